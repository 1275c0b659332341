import NIOCore

/// How an agent keeps its reservations on relays.
public struct RelayClientConfiguration: Sendable {
    /// The relays, in order of preference. The agent keeps a reservation on every one of them,
    /// so losing one leaves the others ready; circuits go through the first that reaches the peer.
    public var relays: [SocketAddress]
    /// The cluster's 32-byte pre-shared key.
    public var presharedKey: [UInt8]
    /// The one local port that control connections leave from and that hole punching listens
    /// and dials on. Sharing it is what makes the relays' observations valid for punching: they
    /// see the NAT mapping of this very port.
    public var localPort: UInt16
    public var keepaliveInterval: TimeAmount
    /// A relay that answers no keepalive for this long is taken as dead and reconnected.
    public var keepaliveTimeout: TimeAmount
    /// The waits before reconnecting to a relay: from half a second, doubling to 30 s, each
    /// drawn between half and all of its step so many agents do not reconnect in lockstep.
    public var reconnectBackoff: RetryBackoff
    public var connectTimeout: TimeAmount
    public var handshakeTimeout: TimeAmount
    /// How long a relayed circuit may take to come up.
    public var circuitTimeout: TimeAmount

    public init(
        relays: [SocketAddress],
        presharedKey: [UInt8],
        localPort: UInt16 = 20007,
        keepaliveInterval: TimeAmount = .seconds(10),
        keepaliveTimeout: TimeAmount = .seconds(25),
        reconnectBackoff: RetryBackoff = RetryBackoff(base: .milliseconds(500), cap: .seconds(30), jitter: .equal),
        connectTimeout: TimeAmount = .seconds(5),
        handshakeTimeout: TimeAmount = .seconds(10),
        circuitTimeout: TimeAmount = .seconds(12)
    ) {
        self.relays = relays
        self.presharedKey = presharedKey
        self.localPort = localPort
        self.keepaliveInterval = keepaliveInterval
        self.keepaliveTimeout = keepaliveTimeout
        self.reconnectBackoff = reconnectBackoff
        self.connectTimeout = connectTimeout
        self.handshakeTimeout = handshakeTimeout
        self.circuitTimeout = circuitTimeout
    }
}
