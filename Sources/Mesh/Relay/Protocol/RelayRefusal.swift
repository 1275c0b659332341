/// Why a relay would not do what a node asked, in words a user can act on.
///
/// These travel on the wire (as a code and the fields below), so both ends describe a refusal
/// the same way and the node that asked can log exactly what the relay meant.
public enum RelayRefusal: Hashable, Sendable, CustomStringConvertible {
    /// The target node keeps no reservation on this relay (it is not connected to it).
    case noReservation(node: String)
    /// The node already has `limit` circuits open through this relay.
    case circuitLimitReached(node: String, limit: Int)
    /// The relay carries `limit` circuits in all and takes no more.
    case relayOverloaded(limit: Int)
    /// The relay holds `limit` reservations and takes no more nodes.
    case reservationsFull(limit: Int)
    /// The target node did not open its side of the circuit in time.
    case peerDidNotAnswer(node: String)
    /// Another key already holds a reservation under this node name.
    case nameBoundToAnotherKey(node: String)
    /// A node asked for a circuit or a signal to itself.
    case targetIsSelf(node: String)
    /// This key already holds the reservation of `node`: one key is one node.
    case keyBoundToAnotherNode(node: String)
    /// The relay follows the cluster's Node keys, and no Node `node` with a tunnel key exists.
    case nodeUnknownToCluster(node: String)
    /// The relay holds `limit` reservations from this address already.
    case addressReservationsFull(limit: Int)

    public var description: String {
        switch self {
        case .noReservation(let node):
            "node \"\(node)\" has no reservation on this relay (it is not connected to it): check that its agent runs and lists this relay"
        case .circuitLimitReached(let node, let limit):
            "node \"\(node)\" already has \(limit) relayed circuits open on this relay (its limit): close idle streams or raise the relay's --max-circuits-per-node"
        case .relayOverloaded(let limit):
            "the relay carries its maximum of \(limit) circuits: add a relay or raise its --max-circuits"
        case .reservationsFull(let limit):
            "the relay holds its maximum of \(limit) node reservations: add a relay or raise its --max-reservations"
        case .peerDidNotAnswer(let node):
            "node \"\(node)\" did not open its side of the relayed circuit in time: its agent may be overloaded or its link to the relay down"
        case .nameBoundToAnotherKey(let node):
            "another key holds node \"\(node)\" on this relay: two agents claim one node name, or the node's key changed and its Node does not say so yet (a relay without the cluster's keys forgets a name's key only when restarted)"
        case .targetIsSelf(let node):
            "node \"\(node)\" asked the relay for a circuit to itself"
        case .keyBoundToAnotherNode(let node):
            "this key already holds the reservation of node \"\(node)\": a node's key reserves its own name only"
        case .nodeUnknownToCluster(let node):
            "the cluster has no Node \"\(node)\" carrying a tunnel key: check the node name, and that its agent could publish its key (patch on its Node)"
        case .addressReservationsFull(let limit):
            "the relay holds its maximum of \(limit) reservations from this address: raise its --max-reservations-per-address if that many nodes share it"
        }
    }
}
