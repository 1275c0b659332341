import Mesh
import NIOCore
import NetSim
import NetworkTopology
import Scenario

/// Runs a scenario on the simulator: builds the topology, starts the mesh and the workloads on
/// their nodes (again after every reboot), plays the faults on their timeline, runs to the end,
/// and judges the expectations. The jobs themselves are the scenario layer's
/// (`WorkloadLauncher`, `FaultTimeline`, `ScenarioJudge`); this type puts them on NetSim.
public final class ScenarioRunner {
    public struct Options {
        /// Called now and then with (simulated now, scenario duration) so a long run can show progress.
        public var progress: ((UInt64, UInt64) -> Void)?
        /// Receives one line per trace record (`--trace FILE`).
        public var traceSink: ((String) -> Void)?
        /// Called once the simulator exists, before anything runs (pcap capture is attached here).
        public var prepare: ((Simulator) throws -> Void)?
        /// Samples each agent's tunnel paths every second, for the run's picture (`timeline`).
        public var recordTimeline = false

        public init(
            progress: ((UInt64, UInt64) -> Void)? = nil, traceSink: ((String) -> Void)? = nil,
            prepare: ((Simulator) throws -> Void)? = nil, recordTimeline: Bool = false
        ) {
            self.progress = progress
            self.traceSink = traceSink
            self.prepare = prepare
            self.recordTimeline = recordTimeline
        }
    }

    public let scenario: Scenario
    public let seed: UInt64
    public let simulator: Simulator
    private let testbed: SimTestbed
    private let paths: TunnelPathTracker
    public private(set) var logs: [String: RequestLog] = [:]
    /// The tunnel paths over time, when the options asked for them.
    public private(set) var timeline: RunTimeline?

    /// Builds the simulator; throws `TopologyError` for a topology that cannot be built (or
    /// objects the simulated API server cannot serve).
    public init(scenario: Scenario, seed: UInt64? = nil) throws {
        self.scenario = scenario
        self.seed = seed ?? scenario.defaultSeed
        let simulator = try Simulator(seed: self.seed, topology: scenario.topology)
        self.simulator = simulator
        let mesh = try scenario.mesh.map {
            try SimMeshDeployment(spec: $0, manifests: scenario.manifests, changes: scenario.changes, simulator: simulator)
        }
        self.testbed = SimTestbed(simulator: simulator, mesh: mesh)
        self.paths = TunnelPathTracker(scenario: scenario, testbed: testbed)
    }

    /// The agent running on `node` now (nil without a mesh section, or while the node is down).
    public func agent(on node: String) -> EdgeAgent? { testbed.mesh?.agent(on: node) }

    /// The simulated API server, when the scenario has one.
    public var apiServer: KubernetesTestAPIServer? { testbed.mesh?.apiServer }

    public func run(options: Options = Options()) throws -> ScenarioReport {
        simulator.trace.textSink = options.traceSink
        try options.prepare?(simulator)
        let invariants = InvariantMonitor(scenario: scenario, testbed: testbed)
        invariants.attach()
        if options.recordTimeline {
            timeline = RunTimeline(scenario: scenario, testbed: testbed)
            timeline?.start()
        }
        try testbed.mesh?.start()
        logs = try WorkloadLauncher(scenario: scenario, testbed: testbed).start(notingPathsWith: paths)
        invariants.watch(logs)
        try FaultTimeline.schedule(scenario.faults, on: testbed)
        let slices: UInt64 = 200
        let step = max(scenario.duration / slices, 1)
        var until: UInt64 = 0
        while until < scenario.duration {
            until = min(until + step, scenario.duration)
            simulator.run(until: until)
            options.progress?(simulator.now, scenario.duration)
        }
        let judge = ScenarioJudge(scenario: scenario, testbed: testbed, logs: logs, paths: paths)
        return ScenarioReport(
            scenario: scenario.name, seed: seed, traceDigest: simulator.trace.digest, simulatedTime: simulator.now,
            deliveredPackets: simulator.deliveredPackets, droppedPackets: simulator.droppedPackets,
            processedEvents: simulator.processedEvents, workloads: judge.workloadSummaries(), verdicts: judge.verdicts(),
            matrix: judge.matrix(), invariants: invariants.verdicts())
    }

    /// The log of a client, punch-peer or replay workload.
    public func log(of workload: String) -> RequestLog? { logs[workload] }
}
