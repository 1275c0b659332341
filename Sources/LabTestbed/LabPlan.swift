import Mesh
import NetworkTopology
import Scenario

/// What of a scenario a lab run can build on Linux, decided before anything runs: the topology
/// with its addresses, the NAT routers Linux cannot realise (left out with everything behind
/// them, never replaced by another kind of NAT), and the workloads whose expectations and
/// matrix cells therefore cannot be judged.
public struct LabPlan: Sendable {
    /// The topology with every address assigned, as the simulator assigns them.
    public let topology: TopologySpec
    /// Routers and nodes left out of the run.
    public let excluded: Set<String>
    /// Why each router left out cannot be built, in words, by router name.
    public let refusals: [String: String]
    /// Client and punch workloads not judged, with the reason, by workload name.
    public let notJudged: [String: String]

    public init(scenario: Scenario) throws {
        topology = try scenario.topology.withAddressesAssigned()
        var refusals: [String: String] = [:]
        for router in topology.routers {
            if let nat = router.nat, let refusal = NATRealisation.refusal(for: nat) { refusals[router.name] = refusal }
        }
        self.refusals = refusals
        // Everything behind a router left out goes with it, down to the last double NAT.
        var excluded = Set(refusals.keys)
        var changed = true
        while changed {
            changed = false
            let lostNetworks = Set(topology.networks.filter { $0.router.map(excluded.contains) ?? false }.map(\.name))
            for router in topology.routers where lostNetworks.contains(router.upstream) && !excluded.contains(router.name) {
                excluded.insert(router.name)
                changed = true
            }
            for node in topology.nodes where lostNetworks.contains(node.network) && !excluded.contains(node.name) {
                excluded.insert(node.name)
                changed = true
            }
        }
        self.excluded = excluded
        notJudged = Self.workloadsNotJudged(scenario, excluded: excluded, refusals: refusals, topology: topology)
    }

    /// Workloads on a node left out, and clients whose every target is served only from one.
    private static func workloadsNotJudged(
        _ scenario: Scenario, excluded: Set<String>, refusals: [String: String], topology: TopologySpec
    ) -> [String: String] {
        func reason(for node: String) -> String {
            let router = behindRouter(of: node, topology: topology, refused: refusals)
            return "\(node) is behind \(router ?? "a router") which Linux cannot build"
        }
        let servingNodes = ServiceEndpointNodes(manifests: scenario.manifests)
        var notJudged: [String: String] = [:]
        for workload in scenario.workloads {
            if excluded.contains(workload.node) {
                notJudged[workload.name] = reason(for: workload.node)
                continue
            }
            switch workload.kind {
            case .client(let spec):
                let servers = spec.targets.map { servingNodes.nodes(forTarget: $0) }
                if !servers.isEmpty, servers.allSatisfy({ !$0.isEmpty && $0.allSatisfy(excluded.contains) }) {
                    notJudged[workload.name] = "its targets are served only from " + reason(for: servers[0][0])
                }
            case .punchPeer(let spec):
                // A punch needs its peer: one left out leaves nobody to meet.
                if let peer = scenario.workloads.first(where: { $0.name == spec.peer }), excluded.contains(peer.node) {
                    notJudged[workload.name] = "its peer \(peer.name) is on " + reason(for: peer.node)
                }
            default:
                break
            }
        }
        return notJudged
    }

    /// The refused router a left-out node sits behind, following its networks' routers up.
    private static func behindRouter(of node: String, topology: TopologySpec, refused: [String: String]) -> String? {
        var network = topology.nodes.first { $0.name == node }?.network
        while let name = network, let router = topology.networks.first(where: { $0.name == name })?.router {
            if refused[router] != nil { return router }
            network = topology.routers.first { $0.name == router }?.upstream
        }
        return nil
    }

    /// The faults of `faults` the run can play: one aimed at a router or node left out goes with
    /// it (and is named in `leftOut`).
    public func playableFaults(_ faults: [FaultSpec]) -> (kept: [FaultSpec], leftOut: [String]) {
        var kept: [FaultSpec] = []
        var leftOut: [String] = []
        for fault in faults {
            let targets: [String]
            switch fault.kind {
            case .partition(let a, let b, _): targets = a + b
            case .isolate(let node), .linkDown(let node, _), .flap(let node, _, _), .crash(let node), .degrade(let node, _, _),
                .clockSkew(let node, _), .addressDown(let node, _):
                targets = [node]
            case .natReboot(let router): targets = [router]
            case .cloudUnreachable: targets = []
            }
            if let lost = targets.first(where: excluded.contains) {
                leftOut.append("the fault at \(Nanoseconds.format(fault.at)) on \(lost) is left out with it")
            } else {
                kept.append(fault)
            }
        }
        return (kept, leftOut)
    }

    /// The run's notes on what it leaves out, one line each.
    public var exclusionNotes: [String] {
        refusals.keys.sorted().map { router in
            let behind = topology.nodes.filter { excluded.contains($0.name) && Self.behindRouter(of: $0.name, topology: topology, refused: refusals) == router }
            return "\(router): \(refusals[router]!); left out with \(behind.isEmpty ? "nothing behind it" : behind.map(\.name).joined(separator: ", "))"
        }
    }
}

/// Which nodes serve a client's target, from the scenario's Endpoints: `web.ns:80`,
/// `web.ns.svc.cluster.local:80` and `web:80` (namespace default) name a service; anything
/// else (a node name, an address) serves from nowhere the plan knows.
private struct ServiceEndpointNodes {
    private var nodesByService: [String: [String]] = [:]

    init(manifests: [KubernetesManifest]) {
        // Read as an agent reads manifests, so the plan and the mesh agree on what they say.
        let set = ManifestSet(files: ["scenario.yaml": manifests.map(\.yaml).joined(separator: "\n---\n")])
        for object in set.objects[.endpoints] ?? [] {
            guard case .endpoints(let endpoints) = object else { continue }
            let key = endpoints.key
            nodesByService["\(key.name).\(key.namespace)"] = endpoints.subsets.flatMap(\.addresses).compactMap(\.nodeName)
        }
    }

    func nodes(forTarget target: String) -> [String] {
        guard let host = HostPort(target)?.host else { return [] }
        let labels = host.split(separator: ".")
        guard let service = labels.first else { return [] }
        let namespace = labels.count > 1 ? String(labels[1]) : "default"
        return nodesByService["\(service).\(namespace)"] ?? []
    }
}
