import Mesh
import NIOCore
import NetworkTopology

/// Where a scenario runs: what the scenario layer asks of a network, its nodes and the mesh on
/// them to play a scenario file and judge it. `SimTestbed` answers in NetSim's virtual time; a
/// testbed on real machines answers the same questions, so one file runs on both.
///
/// Times are nanoseconds from the start of the run. Callbacks run one at a time on the
/// testbed's own schedule (the simulator's loop in NetSim), and a testbed is used only from
/// there: it is `Sendable` so that name resolvers handed to workloads may capture it. Names are node, router or network
/// names from the scenario's `network` section.
public protocol ScenarioTestbed: AnyObject, Sendable {
    // MARK: Nodes and time

    /// The address a node or router name resolves to, as simulated pods resolve names.
    func address(of name: String) -> IPv4Address?

    /// Calls `start` with the node's host whenever the node boots: at the start of the run and
    /// again after every restart. Throws for an unknown node.
    func onBoot(of node: String, _ start: @escaping (any Host) -> Void) throws

    /// Calls `action` at `time` on the run's timeline.
    func schedule(at time: UInt64, _ action: @escaping () -> Void)

    /// The instant `time` of the run's timeline on the hosts' clocks, for workloads that
    /// schedule on their host's loop (uptime `time` in NetSim, the start plus `time` on Linux).
    func deadline(at time: UInt64) -> NIODeadline

    /// The run's time of a host clock's instant: the inverse of `deadline(at:)`.
    func runTime(of deadline: NIODeadline) -> UInt64

    // MARK: Faults

    /// Throws, before anything runs, when a fault names a node, router or network the testbed
    /// does not have (or one that cannot take that fault).
    func checkTargets(of fault: FaultSpec.Kind) throws

    /// Drops packets from the nodes of `a` to those of `b` (and back unless `oneWay`) until
    /// `heal(partition:)`; returns the partition's id.
    func partition(_ a: [String], from b: [String], oneWay: Bool) throws -> Int

    /// Cuts the networks marked `cloud` off from everything else; returns the partition's id.
    func makeCloudUnreachable() throws -> Int

    func heal(partition id: Int)

    /// Takes a node's link (a router's WAN link) down or brings it back up in `direction`.
    func setLink(of node: String, direction: LinkDirection, up: Bool) throws

    /// Adds `loss` and `latency` (nanoseconds, each way) to a node's link (a router's WAN
    /// link); zero for both takes them away again.
    func degradeLink(of node: String, loss: Double, latency: UInt64) throws

    /// Sets how far a node's wall clock runs off the others' (0 puts it right).
    func skewClock(of node: String, by offset: Int64) throws

    /// Cuts a node's power: its processes and connections are gone, its durable store stays.
    func crash(_ node: String) throws

    /// Powers a crashed node on again (its `onBoot` handlers run).
    func boot(_ node: String) throws

    /// Makes a NAT router forget every mapping.
    func rebootNAT(_ router: String) throws

    /// Takes one of `node`'s secondary addresses off its interface, or puts it back.
    func setAddress(_ address: IPv4Address, of node: String, present: Bool) throws

    // MARK: The mesh

    /// Where clients on `node` send DNS queries: the node's agent, or nil when it runs none.
    func nameServer(forNode node: String) -> SocketAddress?

    /// The DNS search list of a pod in the `default` namespace; empty without a mesh.
    var searchDomains: [String] { get }

    /// The kind of path (`PeerPathKind` raw value) the agent on `node` holds to `peer` now;
    /// "none" when it holds none; nil when no agent with a tunnel runs on `node`.
    func tunnelPath(from node: String, to peer: String) -> String?

    /// Every flow the agents on `node` carried so far in the run (each agent's `GET /flows`),
    /// oldest first: which backend each client connection, request or UDP session went to, and
    /// over which path. Empty when no agent runs there.
    func proxiedFlows(on node: String) -> [ProxiedFlow]

    /// Whether the agent on `node` holds what its object source holds, with the first
    /// differences in words.
    func tableMatchesSource(on node: String) -> (matches: Bool, detail: String)

    /// Whether an agent runs on `node` now (its node is up and it was started).
    func isAgentRunning(on node: String) -> Bool

    /// Sockets open on `node` now, agent and workloads together; nil where the testbed cannot tell.
    func openSockets(on node: String) -> Int?

    /// Feeds `monitor` what this testbed observes as the run goes (agent starts, table changes,
    /// forwarded payloads); returns the invariants it can judge that way.
    func attach(_ monitor: InvariantMonitor) -> Set<InvariantMonitor.Invariant>
}
