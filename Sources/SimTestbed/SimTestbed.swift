import Mesh
import NIOCore
import NetSim
import NetworkTopology
import Scenario

/// The scenario layer's testbed on NetSim: nodes are simulated hosts, time is virtual, faults
/// are the simulator's own, and the mesh is `EdgeAgent` and `RelayServer` running in-process on
/// each node (`SimMeshDeployment`).
final class SimTestbed: ScenarioTestbed, @unchecked Sendable {
    let simulator: Simulator
    let mesh: SimMeshDeployment?
    /// The interfaces of secondary addresses taken down, to put them back on.
    private var downAddresses: [IPv4Address: String] = [:]

    init(simulator: Simulator, mesh: SimMeshDeployment?) {
        self.simulator = simulator
        self.mesh = mesh
    }

    // MARK: Nodes and time

    func address(of name: String) -> IPv4Address? { simulator.resolve(name) }

    func onBoot(of node: String, _ start: @escaping (any Host) -> Void) throws {
        try simulator.onBoot(of: node) { start($0) }
    }

    func schedule(at time: UInt64, _ action: @escaping () -> Void) { simulator.schedule(at: time, action) }

    func deadline(at time: UInt64) -> NIODeadline { .uptimeNanoseconds(time) }

    func runTime(of deadline: NIODeadline) -> UInt64 { deadline.uptimeNanoseconds }

    // MARK: Faults

    func checkTargets(of fault: FaultSpec.Kind) throws {
        switch fault {
        case .partition(let a, let b, _):
            _ = try simulator.nodes(named: a + b)
        case .isolate(let node), .linkDown(let node, _), .flap(let node, _, _), .crash(let node), .degrade(let node, _, _),
            .clockSkew(let node, _):
            _ = try simulator.nodes(named: [node])
        case .natReboot(let router):
            guard simulator.node(named: router)?.isNATRouter == true else { throw TopologyError("\"\(router)\" is not a NAT router") }
        case .addressDown(let node, let address):
            guard secondaryInterface(of: address, on: node) != nil else {
                throw TopologyError("\(address) is not a secondary address of \(node)")
            }
        case .cloudUnreachable:
            guard simulator.hasCloudNetwork else { throw TopologyError("no network is marked cloud") }
        }
    }

    func partition(_ a: [String], from b: [String], oneWay: Bool) throws -> Int {
        try simulator.partition(a, from: b, oneWay: oneWay)
    }

    func makeCloudUnreachable() throws -> Int { try simulator.makeCloudUnreachable() }

    func heal(partition id: Int) { simulator.heal(partition: id) }

    func setLink(of node: String, direction: LinkDirection, up: Bool) throws {
        try simulator.setLink(of: node, direction: direction, up: up)
    }

    func degradeLink(of node: String, loss: Double, latency: UInt64) throws {
        try simulator.degradeLink(of: node, loss: loss, latency: latency)
    }

    func skewClock(of node: String, by offset: Int64) throws { try simulator.skewClock(of: node, by: offset) }

    func crash(_ node: String) throws { try simulator.crash(node) }

    func boot(_ node: String) throws { try simulator.boot(node) }

    func rebootNAT(_ router: String) throws { try simulator.rebootNAT(router) }

    func setAddress(_ address: IPv4Address, of node: String, present: Bool) throws {
        if present {
            guard let interface = downAddresses.removeValue(forKey: address) else {
                throw TopologyError("\(address) of \(node) was not taken down")
            }
            try simulator.addAddress(address, interface: interface, toNode: node)
        } else {
            downAddresses[address] = secondaryInterface(of: address, on: node)
            try simulator.removeAddress(address, fromNode: node)
        }
    }

    /// The interface holding the secondary address `address` of `node` now.
    private func secondaryInterface(of address: IPv4Address, on node: String) -> String? {
        simulator.secondaryAddresses(ofNode: node).first { $0.address == address }?.interface
    }

    // MARK: The mesh

    func nameServer(forNode node: String) -> SocketAddress? { mesh?.nameServer(forNode: node) }

    var searchDomains: [String] { mesh?.searchDomains ?? [] }

    func tunnelPath(from node: String, to peer: String) -> String? {
        guard let tunnel = mesh?.agent(on: node)?.tunnel else { return nil }
        return tunnel.peerStatuses().first { $0.node == peer }?.path?.rawValue ?? "none"
    }

    func proxiedFlows(on node: String) -> [ProxiedFlow] { mesh?.flows[node] ?? [] }

    func tableMatchesSource(on node: String) -> (matches: Bool, detail: String) {
        mesh?.tableMatchesSource(on: node) ?? (false, "the scenario runs no agents")
    }

    func isAgentRunning(on node: String) -> Bool { mesh?.agent(on: node) != nil }

    func openSockets(on node: String) -> Int? { simulator.host(named: node)?.openSockets }

    /// Everything: the agents' starts and tables from the deployment, and every payload a
    /// router forwards.
    func attach(_ monitor: InvariantMonitor) -> Set<InvariantMonitor.Invariant> {
        mesh?.monitor = monitor
        simulator.watchForwarding { [simulator] router, payload in
            monitor.forwarded(payload: payload, at: router, time: simulator.now)
        }
        return Set(InvariantMonitor.Invariant.allCases)
    }
}
