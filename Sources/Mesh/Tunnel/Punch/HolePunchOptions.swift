import NIOCore

/// How hard a node tries to punch.
public struct HolePunchOptions: Sendable {
    /// Rounds of synchronised connects.
    public var attempts: Int
    /// How long one round's connect may take (SYN retransmissions included).
    public var attemptTimeout: TimeAmount
    /// How long the peer has to answer a punch request through the relay.
    public var answerTimeout: TimeAmount
    /// Punch requests from one peer answered at once; more are declined (each attempt holds
    /// sockets and timers, and any PSK holder can send requests through the relays).
    public var maximumAttemptsPerPeer: Int
    /// Punch attempts under way at once, in both roles; requests beyond are declined.
    public var maximumConcurrentAttempts: Int
    /// The local addresses offered to a peer as candidates (the tunnel's `listenOn`).
    public var candidateAddresses: InterfaceAddressFilter
    /// Whether this node punches at all (EdgeMesh's `enableHolePunch`); when off it neither
    /// starts punches nor answers peers' requests, which it declines saying so.
    public var enabled = true

    /// The most an attempt can take: the answer, every round, and the select handshake. Also
    /// how long a punch connection may take to send its first bytes.
    public var attemptLifetime: TimeAmount { answerTimeout + attemptTimeout * Int64(attempts + 1) }

    public init(
        attempts: Int = 3, attemptTimeout: TimeAmount = .seconds(3), answerTimeout: TimeAmount = .seconds(10),
        maximumAttemptsPerPeer: Int = 2, maximumConcurrentAttempts: Int = 32, candidateAddresses: InterfaceAddressFilter = .everything
    ) {
        self.candidateAddresses = candidateAddresses
        self.attempts = attempts
        self.attemptTimeout = attemptTimeout
        self.answerTimeout = answerTimeout
        self.maximumAttemptsPerPeer = max(1, maximumAttemptsPerPeer)
        self.maximumConcurrentAttempts = max(1, maximumConcurrentAttempts)
    }
}
