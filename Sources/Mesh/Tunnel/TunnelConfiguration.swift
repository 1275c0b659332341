import NIOCore

/// Settings of a node's tunnel. Every peer in a cluster must use the same pre-shared key; the
/// other values may differ per node.
public struct TunnelConfiguration: Sendable {
    /// The port the tunnel listens on, and dials on peers (EdgeMesh uses 20006).
    public var port: UInt16
    public var presharedKey: TunnelPresharedKey
    /// How often each side pings an idle connection: measures RTT and keeps NAT mappings fresh
    /// (home routers drop idle TCP mappings after minutes, UDP after 30 s or more).
    public var keepaliveInterval: TimeAmount
    /// A connection that received nothing for this long is dead: its streams fail and the next
    /// stream dials again. Outages shorter than this keep the streams.
    public var deadAfter: TimeAmount
    /// How long a dial plus handshake may take before the next path is tried.
    public var handshakeTimeout: TimeAmount
    /// How long the far agent waits for a stream's TCP target to answer.
    public var targetConnectTimeout: TimeAmount
    /// Bytes a stream may have in flight before its reader grants more (per direction).
    public var streamWindow: UInt32
    /// Bytes all streams together may have received and not yet handed on: each stream's
    /// window comes out of it (smaller windows when it runs low, refusal below 16 KiB), so
    /// what peers can make this node buffer is bounded (`TunnelReceiveBudget`). A window is
    /// held while its stream is open, busy or idle: 256 MiB is 1,024 TCP streams at the full
    /// window, or 4,096 UDP sessions (64 KiB each).
    public var receiveBudget: Int
    /// Streams open at once on one connection, in both directions together.
    public var maximumStreamsPerConnection: Int
    /// How long a path is tried alone before the next one (in preference order) starts too, so
    /// a direct dial into a black hole does not delay a relayed path that works.
    public var pathHeadStart: TimeAmount
    /// How long after a dial starts the relayed path starts too, whatever the better paths are
    /// doing: where they all lead into black holes (NATs dropping SYNs, a firewall), the
    /// connection is up one relay round trip and a handshake after this, not after a head
    /// start per better path; a direct path that answers later replaces it. A LAN peer or a
    /// nearby public one answers well within it, so no relay circuit is opened for them.
    public var relayHeadStart: TimeAmount
    /// While on a worse path than direct, how often a better one is tried.
    public var upgradeInterval: TimeAmount
    /// How far a handshake's timestamp may be from this node's wall clock (clock skew allowed).
    public var handshakeClockWindow: TimeAmount
    /// Which targets this node dials when a peer opens a stream. The default refuses all; the
    /// agent allows only endpoints of services on this node (`LocalEndpointTargets`), so the
    /// tunnel is never a proxy into the node's network.
    public var targetPolicy: TunnelTargetPolicy
    /// Announce this node on its LANs and listen for neighbours (`LANBeacon`), so nodes on one
    /// LAN find each other without the cloud.
    public var lanDiscovery: Bool
    /// Handshakes under way on connections peers opened to this node, at most; a connection
    /// beyond is closed at once. Before its handshake a connection is anyone's (no key needed to
    /// open one, and one whose initiation fails the PSK gate is held silently for six handshake
    /// timeouts), so this bounds the sockets strangers hold.
    public var maximumPendingHandshakes: Int
    /// The same for one source address (direct connections; relayed and punched ones arrive
    /// from relays and punch ports and count only in the total).
    public var maximumPendingHandshakesPerAddress: Int
    /// Established connections kept per peer node: a newer one beyond closes the oldest not in
    /// use. A node rarely needs more than two (one per path while it upgrades); a holder of its
    /// credentials could otherwise open thousands.
    public var maximumConnectionsPerPeer: Int
    /// Pod-network packets kept per peer while its first connection comes up (WireGuard
    /// stages packets during its handshake the same way); later ones are dropped.
    public var maximumStagedPackets: Int = 64
    /// Whether the tunnel punches TCP connections through NATs (EdgeMesh's `enableHolePunch`).
    /// Off, peers behind NATs stay relayed for streams; pod packets still punch their UDP path.
    public var holePunching = true
    /// Whether pod packets may take a UDP path between the two nodes (`TunnelDatagramSession`,
    /// on the tunnel's port number over UDP) when one works, instead of the connection's stream.
    public var datagrams = true
    /// The addresses the tunnel listens on and announces on the LAN (EdgeMesh's
    /// `listenInterfaces` and `extraFilteredInterfaces`): every interface but container, bridge
    /// and CNI ones by default, followed as addresses come and go.
    public var listenOn: InterfaceAddressFilter

    public init(
        port: UInt16 = 20006,
        presharedKey: TunnelPresharedKey,
        keepaliveInterval: TimeAmount = .seconds(10),
        deadAfter: TimeAmount = .seconds(35),
        handshakeTimeout: TimeAmount = .seconds(5),
        targetConnectTimeout: TimeAmount = .seconds(5),
        streamWindow: UInt32 = 256 * 1024,
        receiveBudget: Int = 256 * 1024 * 1024,
        maximumStreamsPerConnection: Int = 1024,
        pathHeadStart: TimeAmount = .milliseconds(300),
        relayHeadStart: TimeAmount = .milliseconds(25),
        upgradeInterval: TimeAmount = .seconds(30),
        handshakeClockWindow: TimeAmount = .seconds(120),
        targetPolicy: TunnelTargetPolicy = .refuseAll,
        lanDiscovery: Bool = true,
        maximumPendingHandshakes: Int = 256,
        maximumPendingHandshakesPerAddress: Int = 16,
        maximumConnectionsPerPeer: Int = 4,
        listenOn: InterfaceAddressFilter = .tunnel(listenInterfaces: "*", extraFilteredInterfaces: "")
    ) {
        self.listenOn = listenOn
        self.port = port
        self.presharedKey = presharedKey
        self.keepaliveInterval = keepaliveInterval
        self.deadAfter = deadAfter
        self.handshakeTimeout = handshakeTimeout
        self.targetConnectTimeout = targetConnectTimeout
        self.streamWindow = streamWindow
        self.receiveBudget = receiveBudget
        self.maximumStreamsPerConnection = maximumStreamsPerConnection
        self.pathHeadStart = pathHeadStart
        self.relayHeadStart = relayHeadStart
        self.upgradeInterval = upgradeInterval
        self.handshakeClockWindow = handshakeClockWindow
        self.targetPolicy = targetPolicy
        self.lanDiscovery = lanDiscovery
        self.maximumPendingHandshakes = maximumPendingHandshakes
        self.maximumPendingHandshakesPerAddress = maximumPendingHandshakesPerAddress
        self.maximumConnectionsPerPeer = maximumConnectionsPerPeer
    }
}
