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
        // Addresses are the shared plan's, so a lab run lays the network out the same way.
        let spec = try spec.withAddressesAssigned()
        for router in spec.routers { addRouter(router, spec: spec) }
        for network in spec.networks where network.router != nil {
            let index = simulator.networksByName[network.name]!
            guard simulator.networks[index].gateway != nil else {
                throw TopologyError("network \"\(network.name)\" names router \"\(network.router!)\", which does not exist")
            }
        }
        try rejectRouterLoops(spec)
        for node in spec.nodes { addHost(node) }
        addRoutesThroughPlainRouters(spec)
    }

    private func addRouter(_ spec: TopologySpec.Router, spec topology: TopologySpec) {
        // `withAddressesAssigned` checked the networks and filled in both addresses.
        let upstream = simulator.networksByName[spec.upstream]!
        let inside = simulator.networksByName[topology.networks.first { $0.router == spec.name }!.name]!
        let node = makeNode(name: spec.name, role: .router)
        let wanAddress = spec.address!
        let insideNetwork = simulator.networks[inside]
        let lanAddress = spec.insideAddress!
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

    private func addHost(_ spec: TopologySpec.Node) {
        // `withAddressesAssigned` checked the network and filled in the address.
        let network = simulator.networksByName[spec.network]!
        let node = makeNode(name: spec.name, role: .host)
        let address = spec.address!
        _ = attach(node, name: "eth0", network: network, address: address, link: spec.link)
        for secondary in spec.secondaryAddresses {
            simulator.addAddress(secondary.address, interface: secondary.interface, to: node)
        }
        startKernel(on: node)
        if spec.hostJitter > 0 {
            node.stackDelay = HostStackDelay(
                jitter: spec.hostJitter, random: SimRandom(seed: simulator.seed, label: "stack:\(spec.name)"))
        }
        if let podNetwork = spec.podNetwork { addPods(spec.pods, on: podNetwork, behind: node, nodeNetwork: network) }
    }

    private func startKernel(on node: SimNode) {
        let kernel = SimKernel(simulator: simulator, node: node)
        node.kernel = kernel
        node.host = SimHost(simulator: simulator, node: node, kernel: kernel)
    }

    /// The node's pod network: a network of its own whose way out is the node (its `cni0`
    /// holds `.1`, as the `bridge` CNI plugin's gateway does), with each pod a host on it.
    private func addPods(_ pods: [TopologySpec.Node.Pod], on podNetwork: IPv4Prefix, behind node: SimNode, nodeNetwork: Int) {
        let index = simulator.networks.count
        let network = SimNetwork(
            index: index, name: "\(node.name)/pods", subnet: podNetwork, isCloud: simulator.networks[nodeNetwork].isCloud)
        simulator.networks.append(network)
        simulator.networksByName[network.name] = index
        let bridge = attach(node, name: "cni0", network: index, address: podNetwork.address(at: 1), link: .ideal)
        node.podInterface = bridge
        network.gateway = SimNetwork.Attachment(node: node.id, interface: bridge)
        for pod in pods {
            // `withAddressesAssigned` gave every pod its address.
            let host = makeNode(name: pod.name, role: .host)
            _ = attach(host, name: "eth0", network: index, address: pod.address!, link: .ideal)
            startKernel(on: host)
        }
    }

    private func makeNode(name: String, role: SimNode.Role) -> SimNode {
        let id = NodeID(Int32(simulator.nodes.count))
        let node = SimNode(id: id, name: name, role: role, loop: SimEventLoop(simulator: simulator, node: id, name: name))
        simulator.nodes.append(node)
        simulator.nodesByName[name] = id
        return node
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
