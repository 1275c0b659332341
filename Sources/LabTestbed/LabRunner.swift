import Foundation
import LinuxBackend
import Logging
import Mesh
import NIOCore
import NIOPosix
import NetworkTopology
import Scenario

#if canImport(Glibc)
import Glibc
#endif

/// Runs a scenario file on this machine's kernel (`edgemesh lab`): builds its network from
/// namespaces, starts the real mesh processes and the workloads in their nodes, plays the
/// timeline in real time, judges the same expectations as the simulator on what the run
/// observed, and removes everything it made, also after Ctrl-C (`cleanUp`) and, on the next
/// run, after a crash of the runner itself.
public final class LabRunner: @unchecked Sendable {
    public struct Options: Sendable {
        /// The `edgemesh` binary the agents and relays run.
        public var executable: String
        /// Scenarios longer than this are refused: scenario time runs in real time here.
        public var maxDuration: UInt64
        /// Keep the run's directory (logs, agents' state, manifests) after the run.
        public var keepFiles: Bool
        /// Write one pcap file per node and router into this directory, as `edgemesh sim --pcap`
        /// does: a node's is its `eth0`, a router's all its interfaces (Linux cooked frames).
        public var pcapDirectory: String?
        /// Called about once a second with (elapsed, duration).
        public var progress: (@Sendable (UInt64, UInt64) -> Void)?

        public init(executable: String, maxDuration: UInt64 = 10 * 60 * Nanoseconds.second, keepFiles: Bool = false,
                    pcapDirectory: String? = nil, progress: (@Sendable (UInt64, UInt64) -> Void)? = nil) {
            self.executable = executable
            self.maxDuration = maxDuration
            self.keepFiles = keepFiles
            self.pcapDirectory = pcapDirectory
            self.progress = progress
        }
    }

    public let scenario: Scenario
    public let plan: LabPlan
    public let options: Options
    private let lock = NSLock()
    private var names: LabNames?
    private var group: MultiThreadedEventLoopGroup?
    private var mesh: LabMeshDeployment?

    /// Checks that the run can happen here, before anything is made: root, the tools, the
    /// duration, the topology. Throws `LabError` saying what is missing. The scenario runs as
    /// its lab profile has it (`Scenario.applyingLabProfile`).
    public init(scenario: Scenario, options: Options) throws {
        let scenario = scenario.applyingLabProfile()
        guard getuid() == 0 else { throw LabError("a lab run builds network namespaces: run it as root") }
        for tool in ["ip", "nft", "tc"] where !LabShell.has(tool) {
            throw LabError("\(tool) is not installed (scripts/install-deps installs what the lab needs)")
        }
        if scenario.faults.contains(where: { if case .natReboot = $0.kind { return true } else { return false } }), !LabShell.has("conntrack") {
            throw LabError("the scenario reboots a NAT router and conntrack is not installed (scripts/install-deps)")
        }
        guard scenario.duration <= options.maxDuration else {
            throw LabError(
                "the scenario lasts \(Nanoseconds.format(scenario.duration)), longer than --max-duration "
                    + "\(Nanoseconds.format(options.maxDuration)): scenario time runs in real time in the lab")
        }
        self.options = options
        do {
            plan = try LabPlan(scenario: scenario)
        } catch {
            throw LabError("invalid topology: \(error)")
        }
        var playable = scenario
        (playable.faults, faultsLeftOut) = plan.playableFaults(scenario.faults)
        self.scenario = playable
    }

    /// Faults aimed at what the plan leaves out, in words.
    private let faultsLeftOut: [String]

    /// Every node and router a partition of the run names (their packets carry marks).
    private var partitionMembers: Set<String> {
        var members = Set<String>()
        for fault in scenario.faults {
            if case .partition(let a, let b, _) = fault.kind, let named = try? plan.topology.members(of: a + b) { members.formUnion(named) }
        }
        return members
    }

    /// What the run leaves out or cannot apply, one line each, known before it starts.
    public var notes: [String] { plan.exclusionNotes + faultsLeftOut }

    /// Builds, runs and judges the scenario; always removes what it made. The report's
    /// `labWallTime` is set; expectations the lab cannot judge are marked so (`judged`).
    /// Returns with the notes that became known while building (netem, NAT details).
    public func run() throws -> (report: ScenarioReport, notes: [String]) {
        let removed = LabNames.removeLeftovers()
        let names = try LabNames()
        lock.withLock { self.names = names }
        defer { cleanUp() }
        let network = LabNetwork(topology: plan.topology, names: names, excluded: plan.excluded)
        try network.build()
        let partitions = try LabPartitions(marking: partitionMembers, network: network)
        var notes = network.notes
        let captures = try options.pcapDirectory.map { try startCaptures(into: $0, network: network) } ?? []
        defer { for capture in captures { _ = try? capture.stop() } }
        if !removed.isEmpty { notes.insert("removed what earlier runs left behind: \(removed.joined(separator: ", "))", at: 0) }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        lock.withLock { self.group = group }
        let loop = group.next()
        let home = try loop.submit { try NetworkNamespace.current() }.wait()
        var hosts: [String: LabHost] = [:]
        var logger = Logger(label: "edgemesh.lab")
        logger.logLevel = .notice
        for name in plan.topology.nodes.flatMap({ [$0.name] + $0.pods.map(\.name) }) {
            guard let namespace = network.namespace(of: name) else { continue }
            hosts[name] = LabHost(
                name: name, eventLoop: loop, namespace: try NetworkNamespace(named: namespace), home: home,
                storeDirectory: "\(names.directory)/workloads/\(name)", logger: logger)
        }
        let mesh = try scenario.mesh.map {
            try LabMeshDeployment(
                spec: $0, manifests: scenario.manifests, changes: scenario.changes, topology: plan.topology, network: network,
                hosts: hosts, executable: options.executable, directory: names.directory)
        }
        lock.withLock { self.mesh = mesh }
        let testbed = LabTestbed(
            loop: loop, plan: plan, network: network, partitions: partitions, hosts: hosts, mesh: mesh,
            workloadNodes: Set(scenario.workloads.map(\.node)))
        let paths = TunnelPathTracker(scenario: scenario, testbed: testbed)

        testbed.startClock()
        try mesh?.start(on: loop) { time, action in testbed.schedule(at: time, action) }
        let logs = try WorkloadLauncher(scenario: scenario, testbed: testbed).start(notingPathsWith: paths)
        try FaultTimeline.schedule(scenario.faults, on: testbed)

        let wallStart = DispatchTime.now().uptimeNanoseconds
        while true {
            let elapsed = DispatchTime.now().uptimeNanoseconds - wallStart
            if elapsed >= scenario.duration { break }
            options.progress?(elapsed, scenario.duration)
            usleep(UInt32(min(1_000_000, (scenario.duration - elapsed) / 1000)))
        }
        let wallTime = DispatchTime.now().uptimeNanoseconds - wallStart
        if let mesh { try loop.flatSubmit { mesh.fetchTables(on: loop) }.wait() }
        // The judge reads the logs and the agents' statuses, which live on the loop.
        let report = try loop.submit { [self] in
            let judge = ScenarioJudge(scenario: scenario, testbed: testbed, logs: logs, paths: paths)
            var report = ScenarioReport(
                scenario: scenario.name, seed: scenario.defaultSeed, traceDigest: "", simulatedTime: wallTime, deliveredPackets: 0,
                droppedPackets: 0, processedEvents: 0,
                workloads: judge.workloadSummaries().map { summary in
                    var summary = summary
                    if plan.excluded.contains(summary.node) { summary.node += " (left out)" }
                    return summary
                },
                verdicts: judge.verdicts().map { verdict in judged(verdict, latencyDropped: network.dropsLatency) },
                matrix: judge.matrix().map(judged))
            report.labWallTime = wallTime
            return report
        }.wait()
        return (report, notes)
    }

    /// A capture per node (`eth0`) and router (`any`), each opened inside its namespace.
    private func startCaptures(into directory: String, network: LabNetwork) throws -> [LivePacketCapture] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let home = try NetworkNamespace.current()
        var captures: [LivePacketCapture] = []
        let members = plan.topology.nodes.map { ($0.name, "eth0") } + plan.topology.routers.map { ($0.name, "any") }
        for (name, interface) in members {
            guard let namespace = network.namespace(of: name) else { continue }
            let capture = try NetworkNamespace(named: namespace).perform(returningTo: home) {
                try LivePacketCapture(interface: interface, path: "\(directory)/\(name).pcap")
            }
            try capture.start()
            captures.append(capture)
        }
        return captures
    }

    /// The verdict, or "not judged" when the lab cannot give the expectation what it needs.
    private func judged(_ verdict: ScenarioReport.Verdict, latencyDropped: Bool) -> ScenarioReport.Verdict {
        if let reason = plan.notJudged[verdict.expectation.subject] { return .notJudged(verdict.expectation, because: reason) }
        if case .latency = verdict.expectation.kind, latencyDropped {
            return .notJudged(verdict.expectation, because: "link latency is not applied on this kernel (no netem)")
        }
        return verdict
    }

    private func judged(_ matrix: MatrixReport) -> MatrixReport {
        var matrix = matrix
        for index in matrix.cells.indices where plan.notJudged[matrix.cells[index].workload] != nil {
            matrix.cells[index].judged = false
        }
        return matrix
    }

    /// Stops the processes and the loop and removes the namespaces; safe to call from a signal
    /// handler's queue while `run` is under way, and more than once.
    public func cleanUp() {
        let (names, group, mesh) = lock.withLock {
            defer {
                self.names = nil
                self.group = nil
                self.mesh = nil
            }
            return (self.names, self.group, self.mesh)
        }
        mesh?.stop()
        try? group?.syncShutdownGracefully()
        names?.removeAll(keepFiles: options.keepFiles)
    }
}
