import NIOCore

/// What a relay listens on, whom it serves and how much it carries.
///
/// Limits are counted in circuits (open or being set up) and reservations (connected nodes), not
/// bytes: a mesh relay carries real traffic, and a byte cap per circuit (as libp2p's relay has)
/// only turns into broken streams. A circuit counts against both of its nodes.
public struct RelayServerConfiguration: Sendable {
    public var listenAddress: SocketAddress
    /// The cluster's 32-byte pre-shared key; nodes without it get no answer.
    public var presharedKey: [UInt8]
    /// Node names whose key is known in advance. A name not listed here is bound to the key its
    /// Node carries when the relay follows the cluster, else to the first key that reserves it,
    /// for the relay's lifetime.
    public var boundKeys: [String: [UInt8]]
    public var maxReservations: Int
    /// Reservations one address may hold (nodes behind one NAT share an address).
    public var maxReservationsPerAddress: Int
    /// Connections not yet proven (no authenticated session, no live circuit token) the relay
    /// holds at once, in all and from one address; more are closed at once. Anyone on the
    /// internet can open them, and each holds a descriptor until the handshake timeout.
    public var maxPendingConnections: Int
    public var maxPendingConnectionsPerAddress: Int
    public var maxCircuitsPerNode: Int
    public var maxCircuits: Int
    /// How long the target node has to open its side of a circuit.
    public var circuitSetupTimeout: TimeAmount
    public var handshakeTimeout: TimeAmount
    /// A control connection silent for this long is dead (nodes ping far more often).
    public var idleTimeout: TimeAmount
    /// UDP endpoint reflections (`EndpointReflection`) answered per second, from anyone: a node
    /// asks once per relay every 25 s, and a reflection needs no credentials (it tells the
    /// asker only its own address), so the cap bounds what strangers can make the relay send.
    public var maxReflectionsPerSecond: Int = 1000

    public init(
        listenAddress: SocketAddress,
        presharedKey: [UInt8],
        boundKeys: [String: [UInt8]] = [:],
        maxReservations: Int = 1024,
        maxReservationsPerAddress: Int = 64,
        maxPendingConnections: Int = 1024,
        maxPendingConnectionsPerAddress: Int = 16,
        maxCircuitsPerNode: Int = 64,
        maxCircuits: Int = 4096,
        circuitSetupTimeout: TimeAmount = .seconds(10),
        handshakeTimeout: TimeAmount = .seconds(10),
        idleTimeout: TimeAmount = .seconds(60)
    ) {
        self.listenAddress = listenAddress
        self.presharedKey = presharedKey
        self.boundKeys = boundKeys
        self.maxReservations = maxReservations
        self.maxReservationsPerAddress = maxReservationsPerAddress
        self.maxPendingConnections = maxPendingConnections
        self.maxPendingConnectionsPerAddress = maxPendingConnectionsPerAddress
        self.maxCircuitsPerNode = maxCircuitsPerNode
        self.maxCircuits = maxCircuits
        self.circuitSetupTimeout = circuitSetupTimeout
        self.handshakeTimeout = handshakeTimeout
        self.idleTimeout = idleTimeout
    }
}
