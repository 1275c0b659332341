import NIOCore

/// Keeps two nodes that were hole-punched to each other joined while no relay is in reach (the
/// cloud offline, and an agent restarting or a connection dying meanwhile): punching needs a
/// relay to carry the signals, but each side still knows where the other's punch port was.
///
/// Each punched connection's far endpoint (the peer's NAT mapping of its punch port) is
/// remembered in the durable store, at most `maximumRemembered` peers. When such a connection
/// closes, and for every remembered peer when the agent starts, both sides try again every
/// `attemptInterval` for `attemptsPerRejoin` rounds, only while no relay holds our reservation
/// (with one, the relayed and punched paths work as usual), and until a connection is up:
/// - the side whose node name sorts first dials the tunnel (`PunchedPeerRejoinDialer`): from
///   the punch port to the remembered endpoint, a rejoin hello, then the tunnel's handshake;
/// - the other connects from its punch port to the peer's endpoint too, which opens its own
///   NAT's filter for the first side's SYNs (or makes a simultaneous open with them), waits for
///   the hello and answers the handshake.
/// A rejoin hello on the punch port's listener goes to the tunnel's handshake, which the PSK and
/// the peer's key gate as on any connection; the pending-handshake limits count it.
///
/// Confined to the host's event loop.
final class PunchedPeerRejoin: @unchecked Sendable {
    static let storeKey = "tunnel-punched-peers"
    static let maximumRemembered = 256
    static let attemptInterval = TimeAmount.seconds(3)
    static let attemptsPerRejoin = 40
    static let connectTimeout = TimeAmount.seconds(2)
    /// The hello of a rejoin: a punch hello with an all-zero token (no relay handed one out).
    static let hello = PunchHello.encode(token: RelayToken(bytes: [UInt8](repeating: 0, count: RelayToken.length))!, role: .initiator)

    private unowned let service: HolePunchService
    /// Each remembered peer's punch endpoint, least recently punched first.
    private(set) var remembered: [(node: String, endpoint: NodeEndpoint)] = []
    private var rejoining: [String: RepeatedTask] = [:]
    /// Dials the tunnel to a node (for the side that initiates); set by the agent.
    var connectTunnel: ((String) -> Void)?
    /// Whether the tunnel has a connection to a node now.
    var isConnected: ((String) -> Bool)?

    init(service: HolePunchService) {
        self.service = service
    }

    private var host: any Host { service.host }

    func endpoint(of node: String) -> NodeEndpoint? { remembered.last { $0.node == node }?.endpoint }

    /// Reads what the store remembers and starts a rejoin for each peer in it.
    func start() -> EventLoopFuture<Void> {
        host.store.load(Self.storeKey).map { [self] stored in
            let text = stored.map { String(buffer: $0) } ?? ""
            for line in text.split(separator: "\n").suffix(Self.maximumRemembered) {
                let fields = line.split(separator: " ")
                guard fields.count == 2, let endpoint = NodeEndpoint(text: String(fields[1])) else { continue }
                remembered.removeAll { $0.node == fields[0] }
                remembered.append((String(fields[0]), endpoint))
            }
            for entry in remembered { rejoin(entry.node) }
        }
    }

    func stop() {
        for node in rejoining.keys.sorted() { rejoining[node]?.cancel() }
        rejoining = [:]
    }

    /// A punched (or rejoined) connection to `node` is up on `channel`: remember where the peer
    /// was, and rejoin when the connection closes.
    func punched(_ node: String, on channel: Channel) {
        if let seen = NodeEndpoint(channel.remoteAddress), endpoint(of: node) != seen {
            remembered.removeAll { $0.node == node }
            remembered.append((node, seen))
            if remembered.count > Self.maximumRemembered { remembered.removeFirst(remembered.count - Self.maximumRemembered) }
            let text = remembered.map { "\($0.node) \($0.endpoint)\n" }.joined()
            host.store.save(Self.storeKey, ByteBuffer(string: text)).whenFailure { [host] error in
                host.logger.notice("tunnel: could not remember where \(node) was punched: \(error)")
            }
        }
        channel.closeFuture.whenComplete { [weak self] _ in self?.host.eventLoop.execute { self?.rejoin(node) } }
    }

    /// Whether a relay holds our reservation (then punching works as usual and no rejoin is needed).
    private var relaysReachable: Bool { !service.client.observations.isEmpty }

    private func rejoin(_ node: String) {
        guard rejoining[node] == nil, endpoint(of: node) != nil else { return }
        var left = Self.attemptsPerRejoin
        rejoining[node] = host.eventLoop.scheduleRepeatedTask(initialDelay: Self.attemptInterval, delay: Self.attemptInterval) {
            [weak self] task in
            guard let self else { return task.cancel() }
            left -= 1
            if left < 0 || self.relaysReachable || self.isConnected?(node) == true {
                task.cancel()
                self.rejoining[node] = nil
                return
            }
            if self.host.name < node {
                self.connectTunnel?(node)
            } else {
                self.answer(node)
            }
        }
    }

    /// The dialing side: a connection from the punch port to the peer's remembered endpoint,
    /// carrying the rejoin hello; the tunnel runs its handshake on it. Only while no relay is
    /// in reach, and only from the side whose name sorts first.
    func dial(_ node: String) -> EventLoopFuture<Channel> {
        guard !relaysReachable else { return host.eventLoop.makeFailedFuture(PathNotApplicable("a relay is in reach")) }
        guard host.name < node else { return host.eventLoop.makeFailedFuture(PathNotApplicable("\(node) dials the rejoin")) }
        guard let endpoint = endpoint(of: node) else {
            return host.eventLoop.makeFailedFuture(HolePunchError.noRememberedEndpoint(node: node))
        }
        return connect(to: endpoint) { _ in }.map { [self] channel in
            channel.writeAndFlush(ByteBuffer(bytes: Self.hello), promise: nil)
            punched(node, on: channel)
            return channel
        }
    }

    /// The answering side's attempt: connect toward the peer so our NAT admits its SYNs; on a
    /// connection, wait for its hello and answer the tunnel's handshake.
    private func answer(_ node: String) {
        guard let endpoint = endpoint(of: node) else { return }
        _ = connect(to: endpoint) { [self] channel in
            try channel.pipeline.syncOperations.addHandler(
                PreambleReader(length: PunchHello.length, timeout: service.options.attemptLifetime) { [self] context, bytes in
                    guard bytes == Self.hello else {
                        context.close(promise: nil)
                        return
                    }
                    punched(node, on: context.channel)
                    service.acceptor(context.channel, .holePunched)
                })
        }
    }

    private func connect(to endpoint: NodeEndpoint, _ initialize: @escaping @Sendable (Channel) throws -> Void) -> EventLoopFuture<Channel> {
        let options = StreamConnectOptions(
            remote: endpoint.address.socketAddress(port: endpoint.port), local: IPv4Address.any.socketAddress(port: service.localPort),
            reuseAddress: true, connectTimeout: Self.connectTimeout)
        return host.connectStream(options) { channel in
            channel.eventLoop.makeCompletedFuture { try initialize(channel) }
        }
    }
}
