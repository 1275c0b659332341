import Mesh
import NIOCore
import NetworkTopology
import Scenario

/// The scenario layer's testbed on this machine's kernel: nodes are network namespaces, time is
/// the wall clock from the start of the run, faults are nftables rules, links and conntrack,
/// and the mesh is real agent and relay processes (`LabMeshDeployment`).
///
/// Everything the scenario layer runs (workloads, the timeline, the judge's questions) runs on
/// the run's one event loop, one callback at a time, as in the simulator.
final class LabTestbed: ScenarioTestbed, @unchecked Sendable {
    let loop: EventLoop
    let plan: LabPlan
    let network: LabNetwork
    let hosts: [String: LabHost]
    let mesh: LabMeshDeployment?
    /// Nodes that run a workload.
    private let workloadNodes: Set<String>
    /// Time 0 of the scenario's timeline.
    private(set) var start: NIODeadline = .now()
    let partitions: LabPartitions
    /// Cloud cuts in force, by the id `makeCloudUnreachable` returned.
    private var cloudCuts: Set<Int> = []
    /// Ids of partitions and cloud cuts alike.
    private var nextCutID = 1

    init(
        loop: EventLoop, plan: LabPlan, network: LabNetwork, partitions: LabPartitions, hosts: [String: LabHost],
        mesh: LabMeshDeployment?, workloadNodes: Set<String>
    ) {
        self.workloadNodes = workloadNodes
        self.partitions = partitions
        self.loop = loop
        self.plan = plan
        self.network = network
        self.hosts = hosts
        self.mesh = mesh
    }

    /// Sets time 0 to now.
    func startClock() { start = .now() }

    // MARK: Nodes and time

    func address(of name: String) -> IPv4Address? {
        if let address = IPv4Address(name) { return address }
        if let node = plan.topology.nodes.first(where: { $0.name == name }) { return node.address }
        if let pod = plan.topology.nodes.lazy.flatMap(\.pods).first(where: { $0.name == name }) { return pod.address }
        return plan.topology.routers.first { $0.name == name }?.address
    }

    func onBoot(of node: String, _ start: @escaping (any Host) -> Void) throws {
        if plan.excluded.contains(node) { return }
        guard let host = hosts[node] else { throw LabError("unknown node \"\(node)\"") }
        loop.execute { start(host) }
    }

    func schedule(at time: UInt64, _ action: @escaping () -> Void) {
        loop.scheduleTask(deadline: deadline(at: time)) { action() }
    }

    func deadline(at time: UInt64) -> NIODeadline { start + .nanoseconds(Int64(time)) }

    func runTime(of deadline: NIODeadline) -> UInt64 { UInt64(max(0, (deadline - start).nanoseconds)) }

    // MARK: Faults

    func checkTargets(of fault: FaultSpec.Kind) throws {
        switch fault {
        case .partition(let a, let b, _):
            _ = try plan.topology.members(of: a + b)
        case .crash(let node):
            // The workloads share the run's loop and cannot be powered off with their node yet.
            guard mesh?.runsProcess(on: node) == true, !workloadNodes.contains(node), node != mesh?.spec.apiServer else {
                throw LabError("crash of \(node): only a node that runs nothing but an agent or a relay can crash in the lab yet")
            }
        case .isolate(let node), .linkDown(let node, _), .flap(let node, _, _):
            guard network.hasLink(node) else { throw LabError("\"\(node)\" has no link in this run") }
        case .addressDown(let node, let address):
            guard plan.topology.nodes.contains(where: { $0.name == node && $0.secondaryAddresses.contains { $0.address == address } }) else {
                throw LabError("\(address) is not a secondary address of \(node)")
            }
        case .natReboot(let router):
            guard plan.topology.routers.contains(where: { $0.name == router && $0.nat != nil }), network.namespace(of: router) != nil else {
                throw LabError("\"\(router)\" is not a NAT router of this run")
            }
        case .degrade:
            // Added loss and delay are netem's, which this testbed does without (see TOOLCHAIN.md).
            throw LabError("a degraded link needs netem (sch_netem), which the lab does not use")
        case .clockSkew:
            throw LabError("clock skew: network namespaces share the kernel's one clock")
        case .cloudUnreachable:
            let clouds = plan.topology.networks.filter(\.isCloud)
            guard !clouds.isEmpty else { throw LabError("no network is marked cloud") }
            guard clouds.allSatisfy({ $0.router != nil }) else { throw LabError("a cloud network without a router cannot be cut off in the lab") }
        }
    }

    func partition(_ a: [String], from b: [String], oneWay: Bool) throws -> Int {
        let id = nextCutID
        nextCutID += 1
        try partitions.cut(try plan.topology.members(of: a), from: try plan.topology.members(of: b), oneWay: oneWay, id: id)
        return id
    }

    func makeCloudUnreachable() throws -> Int {
        try network.setCloudReachable(false)
        let id = nextCutID
        nextCutID += 1
        cloudCuts.insert(id)
        return id
    }

    func heal(partition id: Int) {
        // The rules were made by this run; failing to remove them is a broken lab.
        guard cloudCuts.remove(id) != nil else {
            try! partitions.heal(id)
            return
        }
        if cloudCuts.isEmpty { try! network.setCloudReachable(true) }
    }

    func setLink(of node: String, direction: LinkDirection, up: Bool) throws {
        try network.setLink(of: node, direction: direction, up: up)
    }

    /// A power cut, not a process crash: the link goes down first, so the kernel's resets of
    /// the killed process's connections never leave the node, and peers notice only by silence,
    /// as they would (and as they do in the simulator).
    func crash(_ node: String) throws {
        try network.setLink(of: node, direction: .both, up: false)
        mesh?.crash(node)
    }

    /// Power back on: a fresh process with the state it kept, then the link; peers' packets for
    /// connections from before the cut meet a kernel that knows none of them.
    func boot(_ node: String) throws {
        try mesh?.boot(node)
        try network.setLink(of: node, direction: .both, up: true)
    }

    func rebootNAT(_ router: String) throws { try network.rebootNAT(router) }

    func setAddress(_ address: IPv4Address, of node: String, present: Bool) throws {
        try network.setAddress(address, of: node, present: present)
    }

    // Refused by `checkTargets` before the run starts.
    func degradeLink(of node: String, loss: Double, latency: UInt64) throws {
        throw LabError("a degraded link needs netem (sch_netem), which the lab does not use")
    }

    func skewClock(of node: String, by offset: Int64) throws {
        throw LabError("clock skew: network namespaces share the kernel's one clock")
    }

    // MARK: The mesh

    func nameServer(forNode node: String) -> SocketAddress? { mesh?.nameServer(forNode: node) }

    var searchDomains: [String] { mesh?.searchDomains ?? [] }

    func tunnelPath(from node: String, to peer: String) -> String? { mesh?.tunnelPath(from: node, to: peer) }

    func proxiedFlows(on node: String) -> [ProxiedFlow] { mesh?.proxiedFlows(on: node) ?? [] }

    func tableMatchesSource(on node: String) -> (matches: Bool, detail: String) {
        mesh?.tableMatchesSource(on: node) ?? (false, "the scenario runs no agents")
    }

    func isAgentRunning(on node: String) -> Bool { mesh?.runsProcess(on: node) == true }

    func openSockets(on node: String) -> Int? { nil }

    /// The agents are processes of their own here, their tables and the routers' traffic out of
    /// the run's sight: their invariants are the simulator's to check.
    func attach(_ monitor: InvariantMonitor) -> Set<InvariantMonitor.Invariant> { [] }
}
