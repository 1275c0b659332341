import NIOCore

/// One connection, request or UDP session the proxy carried to a backend: which backend the
/// balancer chose and the path the bytes took to it. `GET /flows` lists the recent ones; this
/// is what an operator asks for when a request went somewhere unexpected or was slow.
public struct ProxiedFlow: Sendable, Hashable, Codable {
    public enum Transport: String, Sendable, Codable {
        /// A whole TCP connection, spliced to one backend.
        case tcp
        /// One HTTP request of a connection balanced request by request.
        case http
        /// A UDP session (one client address and port).
        case udp
        /// A SOCKS5 node proxy session, to a port of a node (`service` is "node NAME").
        case socks5
    }

    /// The proxy's sequence number for it, from 1.
    public var id: UInt64
    /// "namespace/name:port" of the service the client addressed.
    public var service: String
    public var transport: Transport
    /// The client's "ip:port" as the proxy saw it (nil when the host did not tell).
    public var client: String?
    /// The backend's "ip:port".
    public var backend: String
    /// The node the backend runs on, when its endpoint names one.
    public var node: String?
    /// `local` (the backend is on this node), or the tunnel connection's path to the backend's
    /// node (`direct`, `hole-punched`, `relayed`); `direct` too when the proxy dialled the
    /// backend's address itself (no tunnel, or the endpoint names no node).
    public var path: PeerPathKind
    /// Whether the bytes went through the encrypted tunnel.
    public var tunnelled: Bool
    /// The address the bytes were sent to: the backend's, the peer agent's, or the relay's.
    public var via: String?
    /// Seconds since the host's clock started, when the flow began.
    public var openedAt: Double

    public init(
        id: UInt64, service: String, transport: Transport, client: String?, backend: String, node: String?, path: PeerPathKind,
        tunnelled: Bool, via: String?, openedAt: Double
    ) {
        self.id = id
        self.service = service
        self.transport = transport
        self.client = client
        self.backend = backend
        self.node = node
        self.path = path
        self.tunnelled = tunnelled
        self.via = via
        self.openedAt = openedAt
    }
}
