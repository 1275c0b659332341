/// Why no hole-punched path to a node was made; the tunnel stays on (or falls back to) the relay.
public enum HolePunchError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No relay has reported our public endpoint, so the peer would not know where to aim.
    case noObservedAddress
    /// Both NATs choose a new public endpoint per destination: neither side can aim at the other.
    case mappingsForbidPunching(node: String, local: NATMappingBehavior, peer: NATMappingBehavior)
    /// The relays could not pass our request to the peer.
    case peerNotReachableThroughRelays(node: String, RelayRefusal)
    /// The peer would not punch (it says why).
    case peerDeclined(node: String, reason: String)
    /// The peer did not answer the punch request in time.
    case noAnswer(node: String)
    /// The peer asked to punch to us while we were asking it (both ends upgrade on the same
    /// timer); its punch goes on and this one stepped aside, so one punch uses the port.
    case yieldedToPeer(node: String)
    /// No punched connection to the node was ever made here, so there is no endpoint to rejoin.
    case noRememberedEndpoint(node: String)
    /// The synchronised connects went out, and none got through.
    case noConnectionGotThrough(node: String, attempts: Int, local: NATMappingBehavior, peer: NATMappingBehavior)

    public var description: String {
        switch self {
        case .noObservedAddress:
            return "hole punching needs our public endpoint, and no relay has reported it yet: check the relay reservations"
        case .mappingsForbidPunching(let node, let local, let peer):
            return "our NAT mapping is \(local) and node \"\(node)\"'s is \(peer): both map per destination, so neither side can aim at the other; punching cannot work; staying relayed"
        case .peerNotReachableThroughRelays(let node, let refusal):
            return "could not ask node \"\(node)\" to punch through any relay: \(refusal)"
        case .peerDeclined(let node, let reason):
            return "node \"\(node)\" declined to punch: \(reason)"
        case .noAnswer(let node):
            return "node \"\(node)\" did not answer the punch request in time; staying relayed"
        case .yieldedToPeer(let node):
            return "node \"\(node)\" started a punch to us at the same time; this node answers that one instead"
        case .noRememberedEndpoint(let node):
            return "no punched connection to node \"\(node)\" was made before, so there is no endpoint to rejoin without a relay"
        case .noConnectionGotThrough(let node, let attempts, let local, let peer):
            let hint: String
            if local.isPredictable && peer.isPredictable {
                hint = "a firewall between the nodes may drop unsolicited SYNs"
            } else if local == .unknown || peer == .unknown {
                // One observer cannot tell a cone NAT from a symmetric one: say how to find out.
                hint = "the NAT mappings are not known (ours: \(local), node \"\(node)\"'s: \(peer); a node learns its own from two relays, so keep reservations on two), and a NAT that maps per destination or a router that answers unsolicited SYNs with a reset defeats punching"
            } else {
                hint = "one NAT maps per destination (ours: \(local), node \"\(node)\"'s: \(peer)), which works only if the other NAT accepts SYNs from unknown ports; it did not"
            }
            return "no connection to node \"\(node)\" got through in \(attempts) synchronised attempts: \(hint); staying relayed"
        }
    }
}
