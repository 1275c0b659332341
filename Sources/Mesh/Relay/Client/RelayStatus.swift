/// A snapshot of an agent's relays, its NAT as they observe it, and why punching to some peers
/// failed: the relay part of `edgemesh status`.
public struct RelayStatus: Hashable, Sendable, CustomStringConvertible {
    public struct Relay: Hashable, Sendable {
        public var relay: String
        public var state: RelayLinkState
        /// The round trip of the last answered keepalive, in milliseconds.
        public var roundTripMilliseconds: Int64?
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
        var lines = relays.map { relay in
            "relay \(relay.relay): \(relay.state)" + (relay.roundTripMilliseconds.map { ", RTT \($0) ms" } ?? "")
        }
        if let natObservation { lines.append(natObservation.description) }
        lines += punchFailures.map { "no punched path to \($0.node): \($0.reason)" }
        return lines.joined(separator: "\n")
    }
}
