import Logging
import NIOCore

/// EdgeMesh's SOCKS5 node proxy: `CONNECT NODE_NAME:PORT` reaches that port on that node
/// through the tunnel, so an operator reaches an edge node's SSH with no public address:
/// `ssh -o ProxyCommand='nc -X 5 -x 169.254.96.16:10800 %h %p' root@edge-node-7`.
///
/// It is not an open proxy: destinations are node names from the table (IP literals and
/// unknown names are refused with their SOCKS reply codes), ports come from an allowed list,
/// the far agent dials only its own node's allowed ports, credentials may be required, and
/// sessions are capped. Confined to the host's event loop.
public final class Socks5NodeProxy: @unchecked Sendable {
    /// What the proxy did since it started; `edgemesh status` and `/metrics` show it.
    public struct Statistics: Sendable, Hashable, Codable {
        public var sessionsAccepted = 0
        public var sessionsConnected = 0
        /// Sessions closed at once because `maximumSessions` were open.
        public var sessionsRefusedAtLimit = 0
        public var authenticationFailures = 0
        /// Requests refused, by reply code ("not allowed", "host unreachable", ...).
        public var refusals: [String: Int] = [:]
        public var openSessions = 0

        public init() {}
    }

    public let host: any Host
    public let table: ServiceTable
    public let configuration: Socks5Configuration
    let dialer: BackendDialer
    public internal(set) var statistics = Statistics()
    /// Told of each session connected to a node (the agent keeps them with its proxy's flows).
    var onConnected: ((ProxiedFlow) -> Void)?
    private var listener: Channel?
    var logger: Logger { host.logger }

    public init(host: any Host, table: ServiceTable, tunnel: (any Tunnel)?, configuration: Socks5Configuration, connectTimeout: TimeAmount = .seconds(10)) {
        self.host = host
        self.table = table
        self.configuration = configuration
        self.dialer = BackendDialer(host: host, tunnel: tunnel, connectTimeout: connectTimeout)
    }

    public func start() -> EventLoopFuture<Void> {
        host.listenStream(StreamListenOptions(address: configuration.listenAddress, allowRemoteHalfClosure: true)) { [self] channel in
            channel.turnAutoReadOff().flatMapThrowing {
                guard self.statistics.openSessions < self.configuration.maximumSessions else {
                    self.statistics.sessionsRefusedAtLimit += 1
                    channel.close(promise: nil)
                    return
                }
                self.statistics.sessionsAccepted += 1
                self.statistics.openSessions += 1
                channel.closeFuture.whenComplete { _ in self.statistics.openSessions -= 1 }
                try channel.pipeline.syncOperations.addHandler(Socks5SessionHandler(proxy: self))
            }
        }.map { listener in
            self.listener = listener
            self.logger.info("socks5 node proxy listening on \(listener.localAddress.map { "\($0)" } ?? "?")")
        }
    }

    /// The bound address (the real port when configured as 0).
    public var localAddress: SocketAddress? { listener?.localAddress }

    public func stop() -> EventLoopFuture<Void> {
        guard let listener else { return host.eventLoop.makeSucceededVoidFuture() }
        self.listener = nil
        return listener.close()
    }

    /// What `edgemesh status` shows of it, one line each.
    public var statusLines: [String] {
        let refusals = statistics.refusals.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
        return [
            "socks5 on \(localAddress?.ipPortText ?? configuration.listenAddress.ipPortText) to node ports "
                + configuration.allowedPorts.sorted().map(String.init).joined(separator: ", ")
                + (configuration.credentials == nil ? "" : " (credentials required)"),
            "  \(statistics.openSessions) open, \(statistics.sessionsAccepted) accepted, \(statistics.sessionsConnected) connected; "
                + "refused: \(refusals.isEmpty ? "none" : refusals.joined(separator: ", ")); \(statistics.authenticationFailures) authentication failure(s)",
        ]
    }

    /// Where `request` may go, or the reply code that refuses it.
    func backend(for request: Socks5Wire.Request) -> Result<ServiceBackend, Socks5ReplyCode> {
        guard request.command == Socks5Wire.Command.connect.rawValue else { return .failure(.commandNotSupported) }
        guard case .name(let name) = request.destination else { return .failure(.addressTypeNotSupported) }
        // Only node names: an address (even spelled as a name) could be anything on the node's networks.
        guard IPv4Address(name) == nil else { return .failure(.notAllowedByRuleset) }
        guard configuration.allowedPorts.contains(request.port) else { return .failure(.notAllowedByRuleset) }
        guard let address = ServiceTablePeerDirectory(table: table).addresses(ofNode: name).first else {
            return .failure(.hostUnreachable)
        }
        return .success(ServiceBackend(address: address, port: request.port, nodeName: name))
    }

    /// The reply code for a failed connection to a node.
    static func replyCode(for error: Error) -> Socks5ReplyCode {
        switch error {
        case TunnelError.targetUnreachable(_, let failure), TunnelError.streamReset(let failure):
            switch failure.reason {
            case .refused: .connectionRefused
            case .notAllowed: .notAllowedByRuleset
            case .timeout: .ttlExpired
            case .unreachable: .hostUnreachable
            case .reset, .internalError: .generalFailure
            }
        case TunnelError.noKnownKey, TunnelError.noPath, TunnelError.handshakeFailed, TunnelError.connectionLost:
            .hostUnreachable
        case HostError.connectionRefused: .connectionRefused
        case HostError.connectTimeout: .ttlExpired
        case HostError.networkUnreachable: .networkUnreachable
        default: .generalFailure
        }
    }

    func refused(_ code: Socks5ReplyCode) {
        statistics.refusals[code.description, default: 0] += 1
    }
}
