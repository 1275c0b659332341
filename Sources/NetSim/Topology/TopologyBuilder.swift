import Mesh
import NetworkTopology

/// Turns a `TopologySpec` into the simulator's networks, routers and hosts, assigning
/// addresses that were left out and computing each network's routes.
struct TopologyBuilder {
    unowned let simulator: Simulator

    func build(_ spec: TopologySpec) throws {
        for network in spec.networks {
            guard simulator.networksByName[network.name] == nil else {
                throw TopologyError("network \"\(network.name)\" is defined twice")
            }
            let index = simulator.networks.count
            simulator.networks.append(
                SimNetwork(index: index, name: network.name, subnet: network.subnet, isCloud: network.isCloud))
            simulator.networksByName[network.name] = index
        }
        let roots = spec.networks.filter { $0.router == nil }
        guard roots.count == 1 else {
            throw TopologyError(
                "exactly one network must have no router (the internet); found \(roots.map(\.name))")
        }
        for router in spec.routers { try addRouter(router, spec: spec) }
        for network in spec.networks where network.router != nil {
            let index = simulator.networksByName[network.name]!
            guard simulator.networks[index].gateway != nil else {
                throw TopologyError("network \"\(network.name)\" names router \"\(network.router!)\", which does not exist")
            }
        }
        try rejectRouterLoops(spec)
        for node in spec.nodes { try addHost(node) }
        addRoutesThroughPlainRouters(spec)
    }

    private func addRouter(_ spec: TopologySpec.Router, spec topology: TopologySpec) throws {
        guard let upstream = simulator.networksByName[spec.upstream] else {
            throw TopologyError("router \"\(spec.name)\": unknown upstream network \"\(spec.upstream)\"")
        }
        let insides = topology.networks.filter { $0.router == spec.name }
        guard insides.count == 1, let inside = simulator.networksByName[insides[0].name] else {
            throw TopologyError("router \"\(spec.name)\" must be the router of exactly one network; it is of \(insides.map(\.name))")
        }
        guard inside != upstream else {
            throw TopologyError("router \"\(spec.name)\": its upstream is its own inside network")
        }
        let node = makeNode(name: spec.name, role: .router)
        let wanAddress = try claim(spec.address, on: upstream, for: spec.name)
        let insideNetwork = simulator.networks[inside]
        let lanAddress = try claim(spec.insideAddress ?? insideNetwork.subnet.address(at: 1), on: inside, for: spec.name)
        node.upstreamInterface = attach(node, name: "wan", network: upstream, address: wanAddress, link: spec.link)
        node.insideInterface = attach(node, name: "lan", network: inside, address: lanAddress, link: .ideal)
        insideNetwork.gateway = SimNetwork.Attachment(node: node.id, interface: node.insideInterface)
        if let nat = spec.nat {
            node.nat = NATTable(
                configuration: nat, externalAddress: wanAddress,
                random: SimRandom(seed: simulator.seed, label: "nat:\(spec.name)"))
        }
    }

    /// Following upstream links from any router must reach the root.
    private func rejectRouterLoops(_ spec: TopologySpec) throws {
        let routerOfNetwork = Dictionary(spec.networks.compactMap { n in n.router.map { (n.name, $0) } }, uniquingKeysWith: { a, _ in a })
        let upstreamOfRouter = Dictionary(spec.routers.map { ($0.name, $0.upstream) }, uniquingKeysWith: { a, _ in a })
        for router in spec.routers {
            var current = router.name
            for _ in 0...spec.routers.count {
                guard let upstream = upstreamOfRouter[current], let next = routerOfNetwork[upstream] else { break }
                current = next
                if current == router.name {
                    throw TopologyError("router \"\(router.name)\" is upstream of itself (a loop of routers)")
                }
            }
        }
    }

    private func addHost(_ spec: TopologySpec.Node) throws {
        guard let network = simulator.networksByName[spec.network] else {
            throw TopologyError("node \"\(spec.name)\": unknown network \"\(spec.network)\"")
        }
        let node = makeNode(name: spec.name, role: .host)
        let address = try claim(spec.address, on: network, for: spec.name)
        _ = attach(node, name: "eth0", network: network, address: address, link: spec.link)
        let kernel = SimKernel(simulator: simulator, node: node)
        node.kernel = kernel
        node.host = SimHost(simulator: simulator, node: node, kernel: kernel)
    }

    private func makeNode(name: String, role: SimNode.Role) -> SimNode {
        let id = NodeID(Int32(simulator.nodes.count))
        let node = SimNode(id: id, name: name, role: role, loop: SimEventLoop(simulator: simulator, node: id, name: name))
        simulator.nodes.append(node)
        simulator.nodesByName[name] = id
        return node
    }

    private func claim(_ requested: IPv4Address?, on networkIndex: Int, for owner: String) throws -> IPv4Address {
        let network = simulator.networks[networkIndex]
        let address: IPv4Address
        if let requested {
            guard network.subnet.contains(requested) else {
                throw TopologyError("\"\(owner)\": address \(requested) is outside \(network.name) (\(network.subnet))")
            }
            guard network.attachments[requested.value] == nil else {
                throw TopologyError("\"\(owner)\": address \(requested) on \(network.name) is already taken")
            }
            address = requested
        } else {
            guard let free = network.allocateAddress() else {
                throw TopologyError("\"\(owner)\": network \(network.name) (\(network.subnet)) has no free address")
            }
            address = free
        }
        // Reserve now; `attach` fills in the interface index.
        network.attachments[address.value] = SimNetwork.Attachment(node: NodeID(-1), interface: -1)
        return address
    }

    private func attach(_ node: SimNode, name: String, network networkIndex: Int, address: IPv4Address, link: LinkSpec) -> Int {
        let network = simulator.networks[networkIndex]
        let label = "link:\(node.name)/\(name)"
        let interface = SimInterface(
            name: name, network: networkIndex, address: address, prefixLength: network.subnet.length,
            up: OneWayLink(profile: link.up, random: SimRandom(seed: simulator.seed, label: label + ":up")),
            down: OneWayLink(profile: link.down, random: SimRandom(seed: simulator.seed, label: label + ":down")))
        node.interfaces.append(interface)
        let index = node.interfaces.count - 1
        network.attachments[address.value] = SimNetwork.Attachment(node: node.id, interface: index)
        return index
    }

    /// A plain router's inside prefixes (and those of plain routers below it) are reachable
    /// from its upstream network through it; a NAT hides everything behind its one address.
    private func addRoutesThroughPlainRouters(_ spec: TopologySpec) {
        func reachablePrefixes(behind router: SimNode) -> [IPv4Prefix] {
            let inside = simulator.networks[router.interfaces[router.insideInterface].network]
            var prefixes = [inside.subnet]
            for node in simulator.nodes where node.role == .router && node.nat == nil
                && node.interfaces[node.upstreamInterface].network == inside.index
            {
                prefixes += reachablePrefixes(behind: node)
            }
            return prefixes
        }
        for router in simulator.nodes where router.role == .router && router.nat == nil {
            let upstream = simulator.networks[router.interfaces[router.upstreamInterface].network]
            for prefix in reachablePrefixes(behind: router) {
                upstream.routes.append(
                    SimNetwork.Route(prefix: prefix, via: SimNetwork.Attachment(node: router.id, interface: router.upstreamInterface)))
            }
        }
    }
}
