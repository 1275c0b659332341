/// Which way along a node's link to its network a fault acts.
public enum LinkDirection: String, Hashable, Sendable, CaseIterable {
    /// Node to network.
    case up
    /// Network to node.
    case down
    case both
}
