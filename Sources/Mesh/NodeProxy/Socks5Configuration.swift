import NIOCore

/// The SOCKS5 node proxy's settings (EdgeMesh's `modules.edgeProxy.socks5Proxy`, with limits
/// and authentication beyond it).
public struct Socks5Configuration: Sendable {
    /// EdgeMesh's default port.
    public static let defaultPort: UInt16 = 10800

    /// Where it listens: the agent's own address, never the node's public one by default.
    public var listenAddress: SocketAddress
    /// The ports of nodes it connects to (SSH by default). Every agent with the proxy on also
    /// accepts tunnel streams to these ports of its own node, and to no other.
    public var allowedPorts: Set<UInt16>
    /// Required when set: clients without them are refused (RFC 1929).
    public var credentials: Socks5Credentials?
    /// Sessions at once, handshaking or connected; more are closed as they come.
    public var maximumSessions: Int
    /// How long a client has from its connection to a complete request.
    public var handshakeTimeout: TimeAmount

    public init(
        listenAddress: SocketAddress, allowedPorts: Set<UInt16> = [22], credentials: Socks5Credentials? = nil,
        maximumSessions: Int = 256, handshakeTimeout: TimeAmount = .seconds(10)
    ) {
        self.listenAddress = listenAddress
        self.allowedPorts = allowedPorts
        self.credentials = credentials
        self.maximumSessions = max(1, maximumSessions)
        self.handshakeTimeout = handshakeTimeout
    }
}
