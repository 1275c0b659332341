import NIOCore

/// Dials a peer's agent at its own addresses (same LAN, or a public address) on the tunnel
/// port: the addresses its Node object reports (InternalIP, then ExternalIP), after any the
/// node announced on this LAN.
public final class DirectPathDialer: PeerPathDialer, Sendable {
    public var kind: PeerPathKind { .direct }

    private let host: any Host
    private let port: UInt16
    private let connectTimeout: TimeAmount
    private let addresses: @Sendable (String) -> [IPv4Address]

    /// `addresses` gives the addresses to try for a node, best first; it is called on the host's
    /// event loop.
    public init(host: any Host, port: UInt16, connectTimeout: TimeAmount = .seconds(3),
                addresses: @escaping @Sendable (String) -> [IPv4Address]) {
        self.host = host
        self.port = port
        self.connectTimeout = connectTimeout
        self.addresses = addresses
    }

    public func dial(node: String) -> EventLoopFuture<Channel> {
        let candidates = addresses(node)
        guard !candidates.isEmpty else {
            return host.eventLoop.makeFailedFuture(DirectPathError(
                "no address is known for node \"\(node)\" (its Node object lists no InternalIP or ExternalIP, and it was not heard on this LAN)"))
        }
        return dial(candidates[...], failures: [])
    }

    private func dial(_ candidates: ArraySlice<IPv4Address>, failures: [String]) -> EventLoopFuture<Channel> {
        guard let address = candidates.first else {
            return host.eventLoop.makeFailedFuture(DirectPathError(failures.joined(separator: ", ")))
        }
        let remote = address.socketAddress(port: port)
        let options = StreamConnectOptions(remote: remote, connectTimeout: connectTimeout)
        return host.connectStream(options) { $0.eventLoop.makeSucceededVoidFuture() }.flatMapError { error in
            let words: String = switch error {
            case HostError.connectionRefused: "\(address):\(self.port) refused the connection (no edgemesh tunnel listens there; is the agent running with the tunnel enabled?)"
            case HostError.connectTimeout: "\(address):\(self.port) did not answer in \(TunnelConnection.text(self.connectTimeout)) (a firewall or NAT drops it, or the node is down)"
            default: "\(address):\(self.port): \(error)"
            }
            return self.dial(candidates.dropFirst(), failures: failures + [words])
        }
    }
}

/// Why the direct path to a peer failed, address by address.
public struct DirectPathError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
