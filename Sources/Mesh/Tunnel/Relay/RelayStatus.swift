/// A snapshot of an agent's relays, its NAT as they observe it, and why punching to some peers
/// failed: the relay part of `edgemesh status`.
public struct RelayStatus: Hashable, Sendable, CustomStringConvertible {
    public struct Relay: Hashable, Sendable {
        public var relay: String
        public var state: RelayLinkState
    }

    public struct PunchFailure: Hashable, Sendable {
        public var node: String
        public var reason: String
    }

    /// In configured order.
    public var relays: [Relay]
    public var natObservation: NATObservation?
    /// Sorted by node name.
    public var punchFailures: [PunchFailure]

    public var description: String {
        var lines = relays.map { "relay \($0.relay): \($0.state)" }
        if let natObservation { lines.append(natObservation.description) }
        lines += punchFailures.map { "no punched path to \($0.node): \($0.reason)" }
        return lines.joined(separator: "\n")
    }
}
