import NIOCore

/// What the tunnel knows about one peer: how it is reached and how well. `edgemesh status`
/// prints these.
public struct TunnelPeerStatus: Equatable, Sendable {
    public var node: String
    /// The path streams to the peer use now; nil while no connection is up.
    public var path: PeerPathKind?
    /// The last keepalive's round-trip time on that path.
    public var roundTripTime: TimeAmount?
    /// Bytes on the wire to and from the peer, over every connection so far.
    public var bytesSent: UInt64
    public var bytesReceived: UInt64
    public var openStreams: Int
    /// Established connections to the peer (one in use, older ones finishing their streams).
    public var openConnections: Int
    /// Why the last attempt or connection failed, in words a user can act on.
    public var lastFailure: String?
    /// Pod-network packets (the edge CNI) carried to and from the peer, and those dropped on
    /// the way out (no path came up, or too many waited for one).
    public var packets = PacketCounters()
    /// Where pod packets go as UDP datagrams (the peer's endpoint), when that path is up; nil
    /// while they ride the connection's stream.
    public var datagramEndpoint: String?
    public var datagramRoundTripTime: TimeAmount?

    public struct PacketCounters: Equatable, Sendable {
        public var sent: UInt64 = 0
        public var received: UInt64 = 0
        public var dropped: UInt64 = 0
        /// Of `sent`, those that went as UDP datagrams rather than on the connection's stream.
        public var sentAsDatagrams: UInt64 = 0
        public init() {}
    }

    public init(node: String, path: PeerPathKind?, roundTripTime: TimeAmount?, bytesSent: UInt64,
                bytesReceived: UInt64, openStreams: Int, openConnections: Int = 1, lastFailure: String?) {
        self.node = node
        self.path = path
        self.roundTripTime = roundTripTime
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.openStreams = openStreams
        self.openConnections = openConnections
        self.lastFailure = lastFailure
    }
}
