import Mesh
import NetworkTopology

/// A scenario's `network` section on this machine's kernel: a network namespace per node and
/// per router, and one per network holding a bridge (`br0`) every member's veth pair ends on.
/// Routers forward and, with a `nat`, translate with nftables (`NATRealisation`); links lose
/// packets with nftables `numgen random`, are shaped with `tbf` and delayed with `netem` where
/// the kernel has it. Addresses and routes are those the simulator gives the same file
/// (`TopologySpec.withAddressesAssigned`).
///
/// Interfaces: `eth0` on a node, `wan` and `lan` on a router, `pN` on a bridge. A node's
/// secondary address named for `eth0` (or `eth0:label`) is added there; one named for another
/// interface gets a veth of that name on the same bridge: a second NIC on the same LAN.
final class LabNetwork {
    /// Where a node's or router's upstream link ends: its interface in its namespace, and the
    /// bridge port that leads to it in the network's namespace.
    struct LinkEnd {
        var namespace: String
        var interface: String
        var bridgeNamespace: String
        var bridgePort: String
    }

    let topology: TopologySpec
    let names: LabNames
    /// Routers and nodes left out (a NAT Linux cannot build, and everything behind it).
    let excluded: Set<String>
    /// Whether `tc netem` works here (checked on the first namespace made).
    private(set) var hasNetem = false
    /// What of the topology the kernel does not do, in words, one per line of the run's notes.
    private(set) var notes: [String] = []
    private var linkEnds: [String: LinkEnd] = [:]
    private var downDirections: [String: Set<LinkDirection>] = [:]
    private var nextPort: [String: Int] = [:]

    init(topology: TopologySpec, names: LabNames, excluded: Set<String>) {
        self.topology = topology
        self.names = names
        self.excluded = excluded
    }

    /// The namespace of a node or router that is part of the run.
    func namespace(of name: String) -> String? {
        guard !excluded.contains(name),
            topology.nodes.contains(where: { $0.name == name }) || topology.routers.contains(where: { $0.name == name })
                || topology.nodes.contains(where: { node in !excluded.contains(node.name) && node.pods.contains { $0.name == name } })
        else { return nil }
        return names.namespace(forHost: name)
    }

    // MARK: Building

    /// Makes every namespace, bridge, link, address, route and NAT. On a failure what was made
    /// stays listed in `names` for `LabNames.removeAll`.
    func build() throws {
        let networks = topology.networks.filter { network in network.router.map { !excluded.contains($0) } ?? true }
        for network in networks {
            let namespace = try names.makeNamespace(names.namespace(forNetwork: network.name))
            try LabShell.run(["ip", "-n", namespace, "link", "add", "br0", "type", "bridge"])
            try LabShell.run(["ip", "-n", namespace, "link", "set", "br0", "up"])
        }
        if let first = networks.first { hasNetem = Self.netemWorks(in: names.namespace(forNetwork: first.name)) }
        for router in topology.routers where !excluded.contains(router.name) { try build(router) }
        for node in topology.nodes where !excluded.contains(node.name) { try build(node) }
        let jittery = topology.nodes.filter { $0.hostJitter > 0 && !excluded.contains($0.name) }.map(\.name)
        if !jittery.isEmpty {
            notes.append("hostJitter (\(jittery.joined(separator: ", "))): the simulator's stand-in for what real hosts do by themselves; nothing is added")
        }
        for network in networks { try addRoutes(on: network) }
        if dropsLatency {
            notes.append("this kernel has no netem: link latency and jitter are not applied, and latency expectations are not judged")
        }
    }

    /// Whether links of the run ask for latency or jitter this kernel does not apply (no netem).
    var dropsLatency: Bool { !hasNetem && hasLatency }

    private var hasLatency: Bool {
        let links = topology.nodes.filter { !excluded.contains($0.name) }.map(\.link)
            + topology.routers.filter { !excluded.contains($0.name) }.map(\.link)
        return links.contains { $0.up.latency > 0 || $0.up.jitter > 0 || $0.down.latency > 0 || $0.down.jitter > 0 }
    }

    private func build(_ router: TopologySpec.Router) throws {
        let namespace = try names.makeNamespace(names.namespace(forHost: router.name))
        let inside = topology.networks.first { $0.router == router.name }!
        let upstream = topology.networks.first { $0.name == router.upstream }!
        try attach(namespace, interface: "wan", to: upstream, address: router.address!, owner: router.name)
        try attach(namespace, interface: "lan", to: inside, address: router.insideAddress!, owner: nil)
        try LabShell.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], in: namespace)
        if let gateway = gateway(of: upstream) {
            try LabShell.run(["ip", "-n", namespace, "route", "add", "default", "via", "\(gateway)"])
        }
        if let nat = router.nat {
            // Routers Linux cannot build were excluded before the run.
            let realisation = NATRealisation(nat, wan: "wan")!
            try LabShell.run(["nft", "-f", "-"], input: realisation.ruleset, in: namespace)
            for (name, value) in realisation.sysctls {
                try LabShell.run(["sysctl", "-qw", "\(name)=\(value)"], in: namespace)
            }
            notes += realisation.notes.map { "\(router.name): \($0)" }
        }
        try shape(router.name, link: router.link)
    }

    private func build(_ node: TopologySpec.Node) throws {
        let namespace = try names.makeNamespace(names.namespace(forHost: node.name))
        let network = topology.networks.first { $0.name == node.network }!
        try attach(namespace, interface: "eth0", to: network, address: node.address!, owner: node.name)
        for secondary in node.secondaryAddresses {
            if Self.device(of: secondary.interface) != "eth0",
                !(try LabShell.run(["ip", "-n", namespace, "-o", "link", "show"]).contains(" \(secondary.interface)@"))
            {
                try attach(namespace, interface: secondary.interface, to: network, address: nil, owner: nil)
            }
            try setAddress(secondary.address, of: node.name, present: true)
        }
        if let gateway = gateway(of: network) {
            try LabShell.run(["ip", "-n", namespace, "route", "add", "default", "via", "\(gateway)"])
        }
        try shape(node.name, link: node.link)
        if let podNetwork = node.podNetwork { try buildPods(node.pods, on: podNetwork, behind: namespace) }
    }

    /// The node's pod network as the standard `bridge` CNI plugin lays it out: a bridge `cni0`
    /// holding `.1` (the pods' gateway), each pod a namespace of its own with a veth `eth0` on
    /// it, and forwarding on in the node (its agent routes other nodes' pods through its TUN).
    private func buildPods(_ pods: [TopologySpec.Node.Pod], on podNetwork: IPv4Prefix, behind node: String) throws {
        let gateway = podNetwork.address(at: 1)
        try LabShell.run(["ip", "-n", node, "link", "add", "cni0", "type", "bridge"])
        try LabShell.run(["ip", "-n", node, "addr", "add", "\(gateway)/\(podNetwork.length)", "dev", "cni0"])
        try LabShell.run(["ip", "-n", node, "link", "set", "cni0", "up"])
        try LabShell.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], in: node)
        for (index, pod) in pods.enumerated() {
            let namespace = try names.makeNamespace(names.namespace(forHost: pod.name))
            let port = "veth\(index)"
            try LabShell.run(["ip", "link", "add", "eth0", "netns", namespace, "type", "veth", "peer", "name", port, "netns", node])
            try LabShell.run(["ip", "-n", node, "link", "set", port, "master", "cni0", "up"])
            // `withAddressesAssigned` gave every pod its address.
            try LabShell.run(["ip", "-n", namespace, "addr", "add", "\(pod.address!)/\(podNetwork.length)", "dev", "eth0"])
            try LabShell.run(["ip", "-n", namespace, "link", "set", "eth0", "up"])
            try LabShell.run(["ip", "-n", namespace, "link", "set", "lo", "up"])
            try LabShell.run(["ip", "-n", namespace, "route", "add", "default", "via", "\(gateway)"])
        }
    }

    /// The router's inside address of `network`: its members' default gateway.
    private func gateway(of network: TopologySpec.Network) -> IPv4Address? {
        network.router.flatMap { name in topology.routers.first { $0.name == name }?.insideAddress }
    }

    /// A veth pair from `namespace` to the bridge of `network`; `owner` names the node or
    /// router whose upstream link it is (its profile and faults apply to it).
    private func attach(_ namespace: String, interface: String, to network: TopologySpec.Network, address: IPv4Address?, owner: String?) throws {
        let bridge = names.namespace(forNetwork: network.name)
        let port = "p\(nextPort[bridge, default: 0])"
        nextPort[bridge, default: 0] += 1
        try LabShell.run(["ip", "link", "add", interface, "netns", namespace, "type", "veth", "peer", "name", port, "netns", bridge])
        try LabShell.run(["ip", "-n", bridge, "link", "set", port, "master", "br0", "up"])
        if let address {
            try LabShell.run(["ip", "-n", namespace, "addr", "add", "\(address)/\(network.subnet.length)", "dev", interface])
        }
        try LabShell.run(["ip", "-n", namespace, "link", "set", interface, "up"])
        if let owner {
            linkEnds[owner] = LinkEnd(namespace: namespace, interface: interface, bridgeNamespace: bridge, bridgePort: port)
        }
    }

    /// Adds one of `node`'s secondary addresses to its interface (`ip addr add`), or takes it off.
    func setAddress(_ address: IPv4Address, of node: String, present: Bool) throws {
        guard let spec = topology.nodes.first(where: { $0.name == node }), let namespace = namespace(of: node),
            let secondary = spec.secondaryAddresses.first(where: { $0.address == address }),
            let network = topology.networks.first(where: { $0.name == spec.network })
        else { throw LabError("\(address) is not a secondary address of \(node) in this run") }
        let device = Self.device(of: secondary.interface)
        var arguments = ["ip", "-n", namespace, "addr", present ? "add" : "del", "\(address)/\(network.subnet.length)", "dev", device]
        if present && secondary.interface != device { arguments += ["label", secondary.interface] }
        try LabShell.run(arguments)
    }

    /// The device an interface name stands for: `eth0:1` is a label on `eth0`.
    private static func device(of interface: String) -> String {
        String(interface.split(separator: ":", maxSplits: 1).first ?? Substring(interface))
    }

    /// Members of `network` reach what lies behind its plain (non-NAT) routers through them.
    private func addRoutes(on network: TopologySpec.Network) throws {
        let plainRouters = topology.routers.filter { $0.upstream == network.name && $0.nat == nil && !excluded.contains($0.name) }
        guard !plainRouters.isEmpty else { return }
        let members = topology.nodes.filter { $0.network == network.name && !excluded.contains($0.name) }.map(\.name)
            + topology.routers.filter { ($0.upstream == network.name || $0.name == network.router) && !excluded.contains($0.name) }.map(\.name)
        for router in plainRouters {
            for prefix in prefixes(behind: router) {
                for member in members where member != router.name {
                    try LabShell.run(["ip", "-n", names.namespace(forHost: member), "route", "add", "\(prefix)", "via", "\(router.address!)"])
                }
            }
        }
    }

    /// A plain router's inside network and what lies behind the plain routers on it.
    private func prefixes(behind router: TopologySpec.Router) -> [IPv4Prefix] {
        guard let inside = topology.networks.first(where: { $0.router == router.name }) else { return [] }
        return [inside.subnet] + topology.routers
            .filter { $0.upstream == inside.name && $0.nat == nil && !excluded.contains($0.name) }
            .flatMap(prefixes(behind:))
    }

    // MARK: Link profiles

    /// Applies a link's profile: `up` leaves the owner's interface, `down` leaves the bridge
    /// port towards it. Loss is dropped where each direction enters or leaves the owner.
    private func shape(_ owner: String, link: LinkSpec) throws {
        guard let end = linkEnds[owner] else { return }
        try shape(device: end.interface, in: end.namespace, profile: link.up, owner: owner, direction: "up")
        try shape(device: end.bridgePort, in: end.bridgeNamespace, profile: link.down, owner: owner, direction: "down")
        var rules: [String] = []
        if link.up.loss > 0 { rules.append("chain egress { type filter hook postrouting priority filter; oifname \"\(end.interface)\" \(Self.lossMatch(link.up.loss)) drop; }") }
        if link.down.loss > 0 { rules.append("chain ingress { type filter hook prerouting priority raw; iifname \"\(end.interface)\" \(Self.lossMatch(link.down.loss)) drop; }") }
        if !rules.isEmpty {
            try LabShell.run(["nft", "-f", "-"], input: "table inet lab_link {\n" + rules.joined(separator: "\n") + "\n}\n", in: end.namespace)
        }
        for profile in [link.up, link.down] {
            if profile.burstLoss != nil { notes.append("\(owner): burst loss is not realised (only independent loss)") }
            if profile.duplicate > 0 { notes.append("\(owner): duplication is not realised") }
        }
    }

    /// `tc` on one direction: `netem` for latency (with the rate, when the kernel has it), else
    /// `tbf` for the bandwidth alone.
    private func shape(device: String, in namespace: String, profile: LinkProfile, owner: String, direction: String) throws {
        if hasNetem, profile.latency > 0 || profile.jitter > 0 {
            var arguments = ["tc", "qdisc", "add", "dev", device, "root", "netem", "delay", "\(profile.latency / 1000)us"]
            if profile.jitter > 0 { arguments.append("\(profile.jitter / 1000)us") }
            if let bandwidth = profile.bandwidth { arguments += ["rate", "\(bandwidth)bit"] }
            try LabShell.run(arguments, in: namespace)
        } else if let bandwidth = profile.bandwidth {
            // A burst of 10 ms at the rate (at least 16 KiB, above any MTU) and a queue of 100 ms.
            let burst = max(16 * 1024, bandwidth / 8 / 100)
            try LabShell.run(["tc", "qdisc", "add", "dev", device, "root", "tbf", "rate", "\(bandwidth)bit", "burst", "\(burst)",
                              "latency", "100ms"], in: namespace)
        }
    }

    /// An nftables match true for `probability` of packets.
    private static func lossMatch(_ probability: Double) -> String {
        "numgen random mod 1000000 < \(Int((probability * 1_000_000).rounded()))"
    }

    private static func netemWorks(in namespace: String) -> Bool {
        guard (try? LabShell.run(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"], in: namespace)) != nil else {
            return false
        }
        _ = try? LabShell.run(["tc", "qdisc", "del", "dev", "lo", "root"], in: namespace)
        return true
    }

    // MARK: Faults

    /// Whether a node or router has a link faults can take down.
    func hasLink(_ name: String) -> Bool { linkEnds[name] != nil }

    /// Drops everything on a node's (router's WAN) link in `direction` until brought back up.
    func setLink(of name: String, direction: LinkDirection, up: Bool) throws {
        guard let end = linkEnds[name] else { throw LabError("\"\(name)\" has no link in this run") }
        let directions: [LinkDirection] = direction == .both ? [.up, .down] : [direction]
        for each in directions {
            if up { downDirections[name, default: []].remove(each) } else { downDirections[name, default: []].insert(each) }
        }
        let down = downDirections[name] ?? []
        var chains: [String] = []
        if down.contains(.up) { chains.append("chain egress { type filter hook postrouting priority raw; oifname \"\(end.interface)\" drop; }") }
        if down.contains(.down) { chains.append("chain ingress { type filter hook prerouting priority raw; iifname \"\(end.interface)\" drop; }") }
        // Declaring the table first makes the delete safe when it does not exist yet.
        let script = "table inet lab_fault\ndelete table inet lab_fault\n"
            + (chains.isEmpty ? "" : "table inet lab_fault {\n" + chains.joined(separator: "\n") + "\n}\n")
        try LabShell.run(["nft", "-f", "-"], input: script, in: end.namespace)
    }

    /// Forgets every mapping of a NAT router: its conntrack table is flushed, as a reboot would.
    func rebootNAT(_ router: String) throws {
        guard let namespace = namespace(of: router) else { throw LabError("\"\(router)\" is not a router of this run") }
        try LabShell.run(["conntrack", "-F"], in: namespace)
    }

    /// Cuts the cloud networks' routers off (forwarding through their WAN ports dropped) when
    /// `cut`, lets them through again otherwise.
    func setCloudReachable(_ reachable: Bool) throws {
        for network in topology.networks where network.isCloud {
            guard let router = network.router, let namespace = namespace(of: router) else {
                throw LabError("cloud network \(network.name) has no router to cut it off at")
            }
            let script = "table inet lab_cloud\ndelete table inet lab_cloud\n"
                + (reachable ? "" : "table inet lab_cloud {\nchain forward { type filter hook forward priority raw; iifname \"wan\" drop; oifname \"wan\" drop; }\n}\n")
            try LabShell.run(["nft", "-f", "-"], input: script, in: namespace)
        }
    }
}
