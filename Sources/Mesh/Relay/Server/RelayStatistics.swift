/// What a relay has done since it started: for status pages, logs and tests.
public struct RelayStatistics: Hashable, Sendable {
    public var reservations = 0
    public var circuitsOpened = 0
    public var circuitsRefused = 0
    public var activeCircuits = 0
    /// Bytes carried through spliced circuits, both directions.
    public var relayedBytes = 0
    public var signalsPassed = 0
    /// Connections that failed the PSK gate or the handshake and got no answer.
    public var silencedConnections = 0
    /// Connections closed at once because too many unproven ones were held (in all or from
    /// their address).
    public var refusedPendingConnections = 0
    /// UDP endpoint reflections answered (`EndpointReflection`), and requests dropped because
    /// `maxReflectionsPerSecond` were answered already that second.
    public var reflectionsAnswered = 0
    public var reflectionsDropped = 0

    public init() {}
}
