extension TopologySpec {
    /// The nodes and routers `names` stand for in a fault: a node or router itself (a node with
    /// the pods behind it); a network, every node on it and every router whose upstream it is,
    /// with everything behind that router; a pod, itself. Throws `TopologyError` for a name that
    /// is none of these.
    public func members(of names: [String]) throws -> Set<String> {
        var result = Set<String>()
        for name in names {
            if let node = nodes.first(where: { $0.name == name }) {
                result.insert(name)
                result.formUnion(node.pods.map(\.name))
            } else if routers.contains(where: { $0.name == name }) || nodes.contains(where: { $0.pods.contains { $0.name == name } }) {
                result.insert(name)
            } else if networks.contains(where: { $0.name == name }) {
                result.formUnion(members(under: name))
            } else {
                throw TopologyError("\"\(name)\" is neither a node, a router nor a network")
            }
        }
        return result
    }

    private func members(under network: String) -> Set<String> {
        var result = Set(nodes.filter { $0.network == network }.flatMap { [$0.name] + $0.pods.map(\.name) })
        for router in routers where router.upstream == network {
            result.insert(router.name)
            if let inside = networks.first(where: { $0.router == router.name }) { result.formUnion(members(under: inside.name)) }
        }
        return result
    }
}
