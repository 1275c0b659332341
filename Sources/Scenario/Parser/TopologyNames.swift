/// What a name in the topology stands for.
enum TopologyNameKind: String {
    case network, router, node
    /// A pod on a node's pod network (a host of its own that runs workloads, never an agent).
    case pod
}

/// The topology's names by kind, for checking references from workloads and faults.
struct TopologyNames {
    var kinds: [String: TopologyNameKind] = [:]
    var natRouters: Set<String> = []
    var cloudNetworks: [String] = []

    func known(_ kinds: Set<TopologyNameKind>) -> [String] {
        self.kinds.filter { kinds.contains($0.value) }.map(\.key).sorted()
    }
}
