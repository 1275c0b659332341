import Mesh

extension TopologySpec {
    /// The same topology with every address filled in, as every testbed lays it out: each
    /// router's WAN address (the next free one of its upstream network when left out) and LAN
    /// address (`.1` of its inside network), then each node's, in the order of the file. A
    /// network hands out addresses from `.2` up, skipping those already held; `.1` is left for
    /// the router. Throws `TopologyError` for an unknown network, an address outside its
    /// network, an address held twice, or a full network.
    public func withAddressesAssigned() throws -> TopologySpec {
        var plans: [String: NetworkAddressPlan] = [:]
        for network in networks where plans[network.name] == nil {
            plans[network.name] = NetworkAddressPlan(name: network.name, subnet: network.subnet)
        }
        var result = self
        // Secondary addresses are always written out: held first, so no address handed out takes one.
        for node in nodes {
            for secondary in node.secondaryAddresses {
                guard plans[node.network] != nil else { continue }
                _ = try plans[node.network]!.claim(secondary.address, for: node.name)
            }
        }
        for index in result.routers.indices {
            let router = result.routers[index]
            guard plans[router.upstream] != nil else {
                throw TopologyError("router \"\(router.name)\": unknown upstream network \"\(router.upstream)\"")
            }
            let insides = networks.filter { $0.router == router.name }
            guard insides.count == 1 else {
                throw TopologyError("router \"\(router.name)\" must be the router of exactly one network; it is of \(insides.map(\.name))")
            }
            guard insides[0].name != router.upstream else {
                throw TopologyError("router \"\(router.name)\": its upstream is its own inside network")
            }
            result.routers[index].address = try plans[router.upstream]!.claim(router.address, for: router.name)
            result.routers[index].insideAddress = try plans[insides[0].name]!.claim(
                router.insideAddress ?? insides[0].subnet.address(at: 1), for: router.name)
        }
        for index in result.nodes.indices {
            let node = result.nodes[index]
            guard plans[node.network] != nil else {
                throw TopologyError("node \"\(node.name)\": unknown network \"\(node.network)\"")
            }
            result.nodes[index].address = try plans[node.network]!.claim(node.address, for: node.name)
        }
        try assignPodAddresses(&result)
        return result
    }

    /// Each pod network's `.1` is its node's (the bridge); pods take addresses from `.2` up.
    /// A pod network may not overlap another network or pod network: its addresses would be
    /// ambiguous to every router.
    private func assignPodAddresses(_ result: inout TopologySpec) throws {
        var taken: [(name: String, subnet: IPv4Prefix)] = networks.map { ($0.name, $0.subnet) }
        for index in result.nodes.indices {
            let node = result.nodes[index]
            guard let podNetwork = node.podNetwork else {
                if let pod = node.pods.first {
                    throw TopologyError("pod \"\(pod.name)\": node \"\(node.name)\" has no pod network")
                }
                continue
            }
            if let clash = taken.first(where: { $0.subnet.overlaps(podNetwork) }) {
                throw TopologyError("node \"\(node.name)\": pod network \(podNetwork) overlaps \(clash.name) (\(clash.subnet))")
            }
            let name = "\(node.name)/pods"
            taken.append((name, podNetwork))
            var plan = NetworkAddressPlan(name: name, subnet: podNetwork)
            _ = try plan.claim(podNetwork.address(at: 1), for: node.name)
            for pod in node.pods where pod.address != nil {
                _ = try plan.claim(pod.address, for: pod.name)
            }
            for podIndex in node.pods.indices where node.pods[podIndex].address == nil {
                result.nodes[index].pods[podIndex].address = try plan.claim(nil, for: node.pods[podIndex].name)
            }
        }
    }
}

/// The addresses of one network handed out so far.
private struct NetworkAddressPlan {
    let name: String
    let subnet: IPv4Prefix
    private var held: Set<UInt32> = []
    private var nextHostIndex: UInt32 = 2

    init(name: String, subnet: IPv4Prefix) {
        self.name = name
        self.subnet = subnet
    }

    mutating func claim(_ requested: IPv4Address?, for owner: String) throws -> IPv4Address {
        guard let requested else { return try allocate(for: owner) }
        guard subnet.contains(requested) else {
            throw TopologyError("\"\(owner)\": address \(requested) is outside \(name) (\(subnet))")
        }
        guard held.insert(requested.value).inserted else {
            throw TopologyError("\"\(owner)\": address \(requested) on \(name) is already taken")
        }
        return requested
    }

    /// The next address nobody holds, below the broadcast address.
    private mutating func allocate(for owner: String) throws -> IPv4Address {
        while UInt64(nextHostIndex) < subnet.size - 1 {
            let candidate = subnet.address(at: nextHostIndex)
            nextHostIndex += 1
            if held.insert(candidate.value).inserted { return candidate }
        }
        throw TopologyError("\"\(owner)\": network \(name) (\(subnet)) has no free address")
    }
}
