import Foundation
import Mesh
import NetworkTopology
import Yams

// MARK: - Topology

extension ScenarioReader {
    func topology(_ value: LocatedNode) throws(ScenarioError) -> (TopologySpec, TopologyNames) {
        let section = try fields(value, allowed: ["networks", "routers", "nodes"])
        var networks: [(spec: TopologySpec.Network, fields: MappingEntries)] = []
        var routers: [(spec: TopologySpec.Router, fields: MappingEntries)] = []
        var nodes: [(spec: TopologySpec.Node, fields: MappingEntries, pods: [(name: String, fields: MappingEntries)])] = []
        let networksValue = try required(section, "networks")
        for item in try list(networksValue, of: "networks") {
            networks.append(try network(item))
        }
        if let list = section["routers"] {
            for item in try self.list(list, of: "routers") { routers.append(try router(item)) }
        }
        if let list = section["nodes"] {
            for item in try self.list(list, of: "nodes") { nodes.append(try node(item)) }
        }

        // Names are unique across all three kinds: they are also host names in "host:port".
        var names = TopologyNames()
        var firstUse: [String: String] = [:]
        let named: [(String, TopologyNameKind, MappingEntries)] =
            networks.map { ($0.spec.name, .network, $0.fields) } + routers.map { ($0.spec.name, .router, $0.fields) }
            + nodes.map { ($0.spec.name, .node, $0.fields) } + nodes.flatMap { node in node.pods.map { ($0.name, .pod, $0.fields) } }
        for (name, kind, fields) in named {
            if let first = firstUse[name] {
                throw fail(
                    try required(fields, "name"),
                    "name \"\(name)\" is already used by \(first) (networks, routers, nodes and pods need distinct names)")
            }
            firstUse[name] = fields.value.path
            names.kinds[name] = kind
        }
        for router in routers where router.spec.nat != nil { names.natRouters.insert(router.spec.name) }
        names.cloudNetworks = networks.filter(\.spec.isCloud).map(\.spec.name)

        try checkTree(networksValue, networks: networks, routers: routers, names: names)
        for node in nodes where names.kinds[node.spec.network] != .network {
            throw try unknownNetwork(required(node.fields, "network"), node.spec.network, names: names)
        }
        try checkAddresses(networks: networks, routers: routers, nodes: nodes.map { ($0.spec, $0.fields) })

        let topology = TopologySpec(
            networks: networks.map(\.spec), routers: routers.map(\.spec), nodes: nodes.map(\.spec))
        return (topology, names)
    }

    private func network(_ item: LocatedNode) throws(ScenarioError) -> (TopologySpec.Network, MappingEntries) {
        let fields = try self.fields(item, allowed: ["name", "subnet", "router", "cloud"])
        var network = TopologySpec.Network(
            name: try name(required(fields, "name")), subnet: try prefix(required(fields, "subnet")))
        if let value = fields["router"] { network.router = try name(value) }
        if let value = fields["cloud"] { network.isCloud = try bool(value) }
        return (network, fields)
    }

    private func router(_ item: LocatedNode) throws(ScenarioError) -> (TopologySpec.Router, MappingEntries) {
        let fields = try self.fields(item, allowed: ["name", "upstream", "address", "insideAddress", "nat", "link"])
        var router = TopologySpec.Router(
            name: try name(required(fields, "name")), upstream: try name(required(fields, "upstream")))
        if let value = fields["address"] { router.address = try address(value) }
        if let value = fields["insideAddress"] { router.insideAddress = try address(value) }
        if let value = fields["nat"] { router.nat = try nat(value) }
        if let value = fields["link"] { router.link = try link(value) }
        return (router, fields)
    }

    private func node(_ item: LocatedNode) throws(ScenarioError) -> (
        spec: TopologySpec.Node, fields: MappingEntries, pods: [(name: String, fields: MappingEntries)]
    ) {
        let fields = try self.fields(item, allowed: ["name", "network", "address", "link", "hostJitter", "addresses", "podCIDR", "pods"])
        var node = TopologySpec.Node(
            name: try name(required(fields, "name")), network: try name(required(fields, "network")))
        if let value = fields["address"] { node.address = try address(value) }
        if let value = fields["link"] { node.link = try link(value) }
        if let value = fields["hostJitter"] { node.hostJitter = try duration(value) }
        if let value = fields["addresses"] {
            // More addresses in the node's network: `[{interface: eth1, address: a.b.c.d}]`.
            for entry in try list(value, of: "addresses ({interface, address})") {
                let secondary = try self.fields(entry, allowed: ["interface", "address"])
                let interface = try scalar(required(secondary, "interface"), "an interface name")
                guard !interface.isEmpty, interface != "lo", interface.allSatisfy({ $0.isLetter || $0.isNumber || ":-_.".contains($0) }) else {
                    throw fail(try required(secondary, "interface"), "\"\(interface)\" is not an interface name")
                }
                node.secondaryAddresses.append(.init(interface: interface, address: try address(required(secondary, "address"))))
            }
        }
        var pods: [(name: String, fields: MappingEntries)] = []
        if let value = fields["podCIDR"] { node.podNetwork = try prefix(value) }
        if let value = fields["pods"] {
            // Hosts on the node's pod network: `[{name: web-0}, {name: web-1, address: 10.244.1.9}]`.
            guard let podNetwork = node.podNetwork else { throw fail(value, "pods need the node's podCIDR: the network they are on") }
            for entry in try list(value, of: "pods ({name, address})") {
                let pod = try self.fields(entry, allowed: ["name", "address"])
                var spec = TopologySpec.Node.Pod(name: try name(required(pod, "name")))
                if let address = pod["address"] {
                    spec.address = try self.address(address)
                    guard podNetwork.contains(spec.address!), spec.address != podNetwork.address(at: 1) else {
                        throw fail(address, "\(spec.address!) is not a pod address of \(podNetwork) (.1 is the node's bridge)")
                    }
                }
                node.pods.append(spec)
                pods.append((spec.name, pod))
            }
        }
        return (node, fields, pods)
    }

    private func unknownNetwork(_ value: LocatedNode, _ name: String, names: TopologyNames) -> ScenarioError {
        if let kind = names.kinds[name] {
            return fail(
                value,
                "\"\(name)\" is a \(kind.rawValue), not a network (known: \(names.known([.network]).joined(separator: ", ")))")
        }
        return unknown(value, "network", name, known: names.known([.network]))
    }

    /// The networks and routers must form one tree below a single root network.
    private func checkTree(
        _ networksValue: LocatedNode, networks: [(spec: TopologySpec.Network, fields: MappingEntries)], routers: [(spec: TopologySpec.Router, fields: MappingEntries)],
        names: TopologyNames
    ) throws(ScenarioError) {
        var root: (name: String, path: String)?
        var insideOf: [String: (network: String, path: String)] = [:]
        for network in networks {
            guard let routerName = network.spec.router else {
                if let root {
                    throw fail(
                        network.fields.value,
                        "network \"\(network.spec.name)\" has no router, but \"\(root.name)\" (\(root.path)) is already "
                            + "the root; exactly one network (the internet) has no router, give the others one")
                }
                root = (network.spec.name, network.fields.value.path)
                continue
            }
            let routerValue = try required(network.fields, "router")
            guard names.kinds[routerName] == .router else {
                throw names.kinds[routerName].map { kind in
                    fail(routerValue, "\"\(routerName)\" is a \(kind.rawValue), not a router (known: \(names.known([.router]).joined(separator: ", ")))")
                } ?? unknown(routerValue, "router", routerName, known: names.known([.router]))
            }
            if let other = insideOf[routerName] {
                throw fail(
                    routerValue,
                    "router \"\(routerName)\" already serves network \"\(other.network)\" (\(other.path)); "
                        + "a router has exactly one inside network")
            }
            insideOf[routerName] = (network.spec.name, network.fields.value.path)
        }
        guard root != nil else {
            throw fail(
                networksValue,
                "no root network: exactly one network (the internet) must have no router")
        }
        for router in routers {
            guard let inside = insideOf[router.spec.name] else {
                throw fail(
                    router.fields.value,
                    "router \"\(router.spec.name)\" is the router of no network; name it in the router field of "
                        + "the network it serves")
            }
            let upstream = try required(router.fields, "upstream")
            guard names.kinds[router.spec.upstream] == .network else {
                throw unknownNetwork(upstream, router.spec.upstream, names: names)
            }
            if router.spec.upstream == inside.network {
                throw fail(
                    upstream,
                    "\"\(inside.network)\" is the router's own inside network; upstream is the network its WAN side is on")
            }
        }
        // Follow each network up through its router until the root; coming back means a cycle.
        let routerByName = Dictionary(routers.map { ($0.spec.name, $0) }, uniquingKeysWith: { first, _ in first })
        let routerOf = Dictionary(networks.map { ($0.spec.name, $0.spec.router) }, uniquingKeysWith: { first, _ in first })
        for network in networks {
            var visited = [network.spec.name]
            var trail = [network.spec.name]
            var current = network.spec.name
            while let routerName = routerOf[current] ?? nil, let router = routerByName[routerName] {
                current = router.spec.upstream
                trail += [routerName, current]
                if visited.contains(current) {
                    throw fail(
                        try required(router.fields, "upstream"),
                        "networks and routers form a cycle (\(trail.joined(separator: " -> "))); "
                            + "every network must lead up to the root network")
                }
                visited.append(current)
            }
        }
    }

    /// Given addresses lie inside their subnet, are usable host addresses and are not given twice on
    /// one network. (Different NATed LANs may reuse the same private subnet.)
    private func checkAddresses(
        networks: [(spec: TopologySpec.Network, fields: MappingEntries)], routers: [(spec: TopologySpec.Router, fields: MappingEntries)],
        nodes: [(spec: TopologySpec.Node, fields: MappingEntries)]
    ) throws(ScenarioError) {
        let subnets = Dictionary(networks.map { ($0.spec.name, $0.spec.subnet) }, uniquingKeysWith: { first, _ in first })
        let insideOf = Dictionary(
            networks.compactMap { network in network.spec.router.map { ($0, network.spec.name) } },
            uniquingKeysWith: { first, _ in first })
        var assignments: [(address: IPv4Address?, network: String, value: LocatedNode?)] = []
        for router in routers {
            assignments.append((router.spec.address, router.spec.upstream, router.fields["address"]))
            if let inside = insideOf[router.spec.name] {
                assignments.append((router.spec.insideAddress, inside, router.fields["insideAddress"]))
            }
        }
        for node in nodes {
            assignments.append((node.spec.address, node.spec.network, node.fields["address"]))
            for secondary in node.spec.secondaryAddresses {
                assignments.append((secondary.address, node.spec.network, node.fields["addresses"]))
            }
        }
        var used: [String: [IPv4Address: String]] = [:]
        for case let (address?, network, value?) in assignments {
            guard let subnet = subnets[network] else { continue }
            guard subnet.contains(address) else {
                throw fail(value, "\(address) is outside network \"\(network)\" (\(subnet))")
            }
            if subnet.length <= 30 {
                if address == subnet.network {
                    throw fail(value, "\(address) is the network address of \"\(network)\" (\(subnet)); pick a host address")
                }
                if address == subnet.address(at: UInt32(truncatingIfNeeded: subnet.size - 1)) {
                    throw fail(value, "\(address) is the broadcast address of \"\(network)\" (\(subnet)); pick a host address")
                }
            }
            if let first = used[network]?[address] {
                throw fail(value, "\(address) is already used on network \"\(network)\" by \(first)")
            }
            used[network, default: [:]][address] = value.path
        }
    }

    private func nat(_ value: LocatedNode) throws(ScenarioError) -> NATConfiguration {
        let fields = try self.fields(
            value,
            allowed: [
                "mapping", "filtering", "hairpinning", "portPreservation", "portAllocation", "portRange", "udpTimeout",
                "tcpEstablishedTimeout", "tcpTransitoryTimeout", "inboundRefresh", "udp", "inputFilter",
            ])
        var nat = NATConfiguration()
        if let value = fields["mapping"] { nat.mapping = try choice(value, "a NAT mapping behavior") }
        if let value = fields["filtering"] { nat.filtering = try choice(value, "a NAT filtering behavior") }
        if let value = fields["hairpinning"] { nat.hairpinning = try bool(value) }
        if let value = fields["portPreservation"] { nat.portPreservation = try bool(value) }
        if let value = fields["portAllocation"] { nat.portAllocation = try choice(value, "a port allocation") }
        if let value = fields["portRange"] {
            let text = try scalar(value, ScenarioValues.portRangeHint)
            guard let range = ScenarioValues.portRange(text) else {
                throw fail(value, "\"\(text)\" is not a port range (\(ScenarioValues.portRangeHint))")
            }
            nat.portRange = range
        }
        if let value = fields["udpTimeout"] { nat.udpMappingTimeout = try duration(value, positive: true) }
        if let value = fields["tcpEstablishedTimeout"] { nat.tcpEstablishedTimeout = try duration(value, positive: true) }
        if let value = fields["tcpTransitoryTimeout"] { nat.tcpTransitoryTimeout = try duration(value, positive: true) }
        if let value = fields["inboundRefresh"] { nat.inboundRefresh = try bool(value) }
        if let value = fields["udp"] {
            nat.blocksUDP = try keyword(value, "a UDP policy", allowed: ["allowed", "blocked"]) == "blocked"
        }
        if let value = fields["inputFilter"] { nat.filtersInput = try bool(value) }
        return nat
    }

    /// A profile for both directions, or `{up: profile, down: profile}`.
    private func link(_ value: LocatedNode) throws(ScenarioError) -> LinkSpec {
        let fields = try rawFields(value, expecting: "a link profile or {up: profile, down: profile}")
        guard fields.keys.contains("up") || fields.keys.contains("down") else {
            return LinkSpec(both: try profile(value))
        }
        try check(fields, allowed: ["up", "down"], context: "a link given per direction")
        var link = LinkSpec()
        if let value = fields["up"] { link.up = try profile(value) }
        if let value = fields["down"] { link.down = try profile(value) }
        return link
    }

    private func profile(_ value: LocatedNode) throws(ScenarioError) -> LinkProfile {
        let fields = try self.fields(
            value, allowed: ["latency", "jitter", "loss", "burstLoss", "duplicate", "bandwidth", "queue", "reorder"])
        var profile = LinkProfile()
        if let value = fields["latency"] { profile.latency = try duration(value) }
        if let value = fields["jitter"] { profile.jitter = try duration(value) }
        if let value = fields["loss"] { profile.loss = try probability(value) }
        if let value = fields["burstLoss"] {
            let burst = try self.fields(value, allowed: ["enter", "exit", "loss"])
            profile.burstLoss = LinkProfile.BurstLoss(
                enterBad: try probability(required(burst, "enter")), exitBad: try probability(required(burst, "exit")))
            if let value = burst["loss"] { profile.burstLoss?.lossInBadState = try probability(value) }
        }
        if let value = fields["duplicate"] { profile.duplicate = try probability(value) }
        if let value = fields["bandwidth"] { profile.bandwidth = try bandwidth(value) }
        if let value = fields["queue"] { profile.queueLimit = try byteCount(value, positive: true) }
        if let value = fields["reorder"] { profile.reorder = try bool(value) }
        return profile
    }
}
