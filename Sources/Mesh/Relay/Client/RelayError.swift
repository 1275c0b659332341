import NIOCore

/// Why a relayed path to a node could not be made, as the agent reports it.
public enum RelayError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No relay holds a reservation for us right now.
    case noRelayReservation(relays: [String])
    /// Every relay with a reservation refused or failed; one reason per relay, in order.
    case noRelayReachedNode(node: String, reasons: [String])
    /// A relay refused.
    case refused(relay: String, RelayRefusal)
    /// The circuit did not come up in time.
    case circuitTimedOut(relay: String, node: String)
    /// The control connection to the relay went away while the request was pending.
    case relayConnectionLost(relay: String)

    public var description: String {
        switch self {
        case .noRelayReservation(let relays):
            "no reservation on any relay (\(relays.joined(separator: ", "))): check that a relay runs there, is reachable, and uses this cluster's PSK"
        case .noRelayReachedNode(let node, let reasons):
            "no relay reached node \"\(node)\": " + reasons.joined(separator: "; ")
        case .refused(let relay, let refusal):
            "relay \(relay): \(refusal)"
        case .circuitTimedOut(let relay, let node):
            "relay \(relay): the circuit to node \"\(node)\" did not come up in time"
        case .relayConnectionLost(let relay):
            "relay \(relay): the control connection was lost; the agent reconnects on its own"
        }
    }
}
