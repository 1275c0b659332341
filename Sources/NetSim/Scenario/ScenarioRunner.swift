import Mesh
import NIOCore

/// Runs a scenario on the simulator: builds the topology, starts the workloads on their nodes
/// (again after every reboot), plays the faults on their timeline, runs to the end, and judges
/// the expectations.
public final class ScenarioRunner {
    public struct Options {
        /// Called now and then with (simulated now, scenario duration) so a long run can show progress.
        public var progress: ((UInt64, UInt64) -> Void)?
        /// Receives one line per trace record (`--trace FILE`).
        public var traceSink: ((String) -> Void)?
        /// Called once the simulator exists, before anything runs (pcap capture is attached here).
        public var prepare: ((Simulator) throws -> Void)?

        public init(
            progress: ((UInt64, UInt64) -> Void)? = nil, traceSink: ((String) -> Void)? = nil,
            prepare: ((Simulator) throws -> Void)? = nil
        ) {
            self.progress = progress
            self.traceSink = traceSink
            self.prepare = prepare
        }
    }

    public let scenario: Scenario
    public let seed: UInt64
    public let simulator: Simulator
    private var logs: [String: RequestLog] = [:]
    /// Per client, how many successful requests went over each tunnel path.
    private var tunnelPaths: [String: [String: Int]] = [:]
    private let mesh: ScenarioMeshDeployment?

    /// Builds the simulator; throws `TopologyError` for a topology that cannot be built (or
    /// objects the simulated API server cannot serve).
    public init(scenario: Scenario, seed: UInt64? = nil) throws {
        self.scenario = scenario
        self.seed = seed ?? scenario.defaultSeed
        let simulator = try Simulator(seed: self.seed, topology: scenario.topology)
        self.simulator = simulator
        self.mesh = try scenario.mesh.map {
            try ScenarioMeshDeployment(spec: $0, manifests: scenario.manifests, changes: scenario.changes, simulator: simulator)
        }
    }

    /// The agent running on `node` now (nil without a mesh section, or while the node is down).
    public func agent(on node: String) -> EdgeAgent? { mesh?.agent(on: node) }

    /// The simulated API server, when the scenario has one.
    public var apiServer: KubernetesTestAPIServer? { mesh?.apiServer }

    public func run(options: Options = Options()) throws -> ScenarioReport {
        simulator.trace.textSink = options.traceSink
        try options.prepare?(simulator)
        try mesh?.start()
        try startWorkloads()
        try scheduleFaults()
        let slices: UInt64 = 200
        let step = max(scenario.duration / slices, 1)
        var until: UInt64 = 0
        while until < scenario.duration {
            until = min(until + step, scenario.duration)
            simulator.run(until: until)
            options.progress?(simulator.now, scenario.duration)
        }
        return report()
    }

    /// The log of a client or punch-peer workload.
    public func log(of workload: String) -> RequestLog? { logs[workload] }

    // MARK: Workloads

    private func startWorkloads() throws {
        let resolver: NameResolver = { [simulator] name in simulator.resolve(name) }
        for workload in scenario.workloads {
            let log = RequestLog()
            switch workload.kind {
            case .client:
                logs[workload.name] = log
                notePaths(of: workload, in: log)
            case .punchPeer, .replay: logs[workload.name] = log
            default: break
            }
            let start = try starter(for: workload, resolver: resolver, log: log)
            try simulator.onBoot(of: workload.node, start)
        }
    }

    private func starter(for workload: WorkloadSpec, resolver: @escaping NameResolver, log: RequestLog) throws -> (SimHost) -> Void {
        switch workload.kind {
        case .httpServer(let port, let podName, let tls):
            let context = try tls.map { try WorkloadTLS.serverContext(certificateChainPEM: $0.certificateChainPEM, privateKeyPEM: $0.privateKeyPEM) }
            return { HTTPServerWorkload.start(on: $0, port: port, podName: podName, tls: context) }
        case .tcpEcho(let port):
            return { TCPEchoServerWorkload.start(on: $0, port: port) }
        case .udpEcho(let port):
            return { UDPEchoServerWorkload.start(on: $0, port: port) }
        case .webSocketEcho(let port):
            return { WebSocketEchoServerWorkload.start(on: $0, port: port) }
        case .rendezvous(let port):
            return { RendezvousWorkload.start(on: $0, port: port) }
        case .client(let spec):
            let nameServer = mesh?.nameServer(forNode: workload.node)
            let targets = try spec.targets.map { text in
                if spec.protocol == .dns { return HostPort(host: text, port: nameServer?.port.map(UInt16.init) ?? 53) }
                guard let target = HostPort(text) else { throw TopologyError("workload \(workload.name): target \"\(text)\" is not host:port") }
                return target
            }
            guard spec.protocol != .dns || nameServer != nil else {
                throw TopologyError("workload \(workload.name): a dns client needs an agent on node \(workload.node)")
            }
            let client = ClientWorkload(
                kind: ClientWorkload.Kind(rawValue: spec.protocol.rawValue)!, targets: targets,
                firstRequestAt: .uptimeNanoseconds(spec.start), interval: .nanoseconds(Int64(spec.interval)),
                count: spec.count, timeout: .nanoseconds(Int64(spec.timeout)), payloadSize: spec.payloadSize,
                nameServer: nameServer, searchDomains: mesh?.searchDomains ?? [],
                trustedAuthorities: try spec.trustedPEM.map { try WorkloadTLS.clientContext(trustedPEM: $0) },
                hostHeader: spec.hostHeader, path: spec.path, keepsCookies: spec.keepsCookies)
            return { client.start(on: $0, resolver: resolver, log: log) }
        case .replay(let spec):
            // DNS the capture sent to the node's resolver goes to the node's agent here.
            let nameServer = mesh?.nameServer(forNode: workload.node)
            let replay = FlowReplayWorkload(
                flows: spec.flows, startAt: .uptimeNanoseconds(spec.start), timeout: .nanoseconds(Int64(spec.timeout)),
                target: { flow in
                    if flow.port == 53, let nameServer { return nameServer }
                    return flow.destination.socketAddress(port: flow.port)
                })
            return { replay.start(on: $0, log: log) }
        case .punchPeer(let spec):
            guard let rendezvous = HostPort(spec.rendezvous) else {
                throw TopologyError("workload \(workload.name): rendezvous \"\(spec.rendezvous)\" is not host:port")
            }
            let peer = PunchPeerWorkload(
                transport: spec.transport == .udp ? .udp : .tcp, name: workload.name, peer: spec.peer,
                rendezvous: rendezvous, localPort: spec.port, startAt: .uptimeNanoseconds(spec.start),
                timeout: .nanoseconds(Int64(spec.timeout)))
            return { peer.start(on: $0, resolver: resolver, log: log) }
        }
    }

    // MARK: Faults

    private func scheduleFaults() throws {
        for fault in scenario.faults {
            let end = fault.duration.map { fault.at + $0 }
            // Resolve names now, so a bad name fails before the run rather than in the middle.
            switch fault.kind {
            case .partition(let a, let b, _):
                _ = try simulator.nodes(named: a + b)
            case .isolate(let node), .linkDown(let node, _), .flap(let node, _, _), .crash(let node):
                _ = try simulator.nodes(named: [node])
            case .natReboot(let router):
                guard simulator.node(named: router)?.nat != nil else { throw TopologyError("\"\(router)\" is not a NAT router") }
            case .cloudUnreachable:
                guard simulator.networks.contains(where: \.isCloud) else { throw TopologyError("no network is marked cloud") }
            }
            simulator.schedule(at: fault.at) { [simulator] in
                // Names were checked above; a failure here would be a simulator bug.
                try! Self.begin(fault, end: end, on: simulator)
            }
        }
    }

    private static func begin(_ fault: FaultSpec, end: UInt64?, on simulator: Simulator) throws {
        func atEnd(_ body: @escaping () throws -> Void) {
            if let end { simulator.schedule(at: end) { try! body() } }
        }
        switch fault.kind {
        case .partition(let a, let b, let oneWay):
            let id = try simulator.partition(a, from: b, oneWay: oneWay)
            atEnd { simulator.heal(partition: id) }
        case .cloudUnreachable:
            let id = try simulator.makeCloudUnreachable()
            atEnd { simulator.heal(partition: id) }
        case .isolate(let node):
            try simulator.setLink(of: node, direction: .both, up: false)
            atEnd { try simulator.setLink(of: node, direction: .both, up: true) }
        case .linkDown(let node, let direction):
            try simulator.setLink(of: node, direction: direction, up: false)
            atEnd { try simulator.setLink(of: node, direction: direction, up: true) }
        case .flap(let node, let down, let up):
            func cycle(from start: UInt64) {
                guard end.map({ start < $0 }) ?? true else { return }
                try! simulator.setLink(of: node, direction: .both, up: false)
                let back = end.map { min(start + down, $0) } ?? start + down
                simulator.schedule(at: back) {
                    try! simulator.setLink(of: node, direction: .both, up: true)
                    simulator.schedule(at: back + up) { cycle(from: back + up) }
                }
            }
            cycle(from: fault.at)
        case .crash(let node):
            try simulator.crash(node)
            atEnd { try simulator.boot(node) }
        case .natReboot(let router):
            try simulator.rebootNAT(router)
        }
    }

    // MARK: Judging

    private func report() -> ScenarioReport {
        let summaries = scenario.workloads.map { workload -> ScenarioReport.WorkloadSummary in
            let log = logs[workload.name]
            return ScenarioReport.WorkloadSummary(
                name: workload.name, kind: Self.kindName(workload.kind), node: workload.node,
                attempted: log?.attempted ?? 0, succeeded: log?.succeeded ?? 0,
                p50: log?.latency(percentile: 50).map { UInt64($0.nanoseconds) },
                p99: log?.latency(percentile: 99).map { UInt64($0.nanoseconds) },
                backends: log?.backendCounts ?? [], failureReasons: log?.failureReasons ?? [], isServer: log == nil)
        }
        let verdicts = scenario.expectations.map(judge)
        return ScenarioReport(
            scenario: scenario.name, seed: seed, traceDigest: simulator.trace.digest, simulatedTime: simulator.now,
            deliveredPackets: simulator.deliveredPackets, droppedPackets: simulator.droppedPackets,
            processedEvents: simulator.processedEvents, workloads: summaries, verdicts: verdicts,
            matrix: scenario.matrix.map(matrixReport))
    }

    private func matrixReport(_ spec: MatrixSpec) -> MatrixReport {
        let cells = spec.cells.map { cell -> MatrixReport.Cell in
            let outcomes = logs[cell.workload]?.outcomes ?? []
            let firstByte = outcomes.first(where: \.succeeded).flatMap { success in
                outcomes.first.map { UInt64((success.startedAt + success.latency - $0.startedAt).nanoseconds) }
            }
            return MatrixReport.Cell(
                row: cell.row, column: cell.column, workload: cell.workload,
                path: firstByte == nil ? nil : path(of: cell.workload).path?.rawValue, timeToFirstByte: firstByte)
        }
        return MatrixReport(title: spec.title, rows: spec.rows, columns: spec.columns, cells: cells)
    }

    private func judge(_ expectation: ExpectationSpec) -> ScenarioReport.Verdict {
        if expectation.kind == .tableMatchesSource {
            guard let mesh else { return .init(expectation: expectation, passed: false, detail: "the scenario runs no agents") }
            let (matches, detail) = mesh.tableMatchesSource(on: expectation.subject)
            return .init(expectation: expectation, passed: matches, detail: detail)
        }
        guard let log = logs[expectation.subject] else {
            return .init(expectation: expectation, passed: false, detail: "no client or punch-peer workload of that name")
        }
        func verdict(_ passed: Bool, _ detail: String) -> ScenarioReport.Verdict {
            .init(expectation: expectation, passed: passed, detail: detail)
        }
        let ratio = log.successRatio
        let ratioText = "success ratio \(Self.format(ratio)) (\(log.succeeded)/\(log.attempted))"
        switch expectation.kind {
        case .minSuccessRatio(let minimum):
            return verdict(log.attempted > 0 && ratio >= minimum, "\(ratioText), wanted ≥ \(Self.format(minimum))")
        case .maxSuccessRatio(let maximum):
            return verdict(log.attempted > 0 && ratio <= maximum, "\(ratioText), wanted ≤ \(Self.format(maximum))")
        case .latency(let percentile, let maximum):
            guard let measured = log.latency(percentile: percentile) else {
                return verdict(false, "p\(Self.format(percentile)) latency: no request succeeded")
            }
            let value = UInt64(measured.nanoseconds)
            return verdict(
                value <= maximum,
                "p\(Self.format(percentile)) latency \(Nanoseconds.format(value)), wanted ≤ \(Nanoseconds.format(maximum))")
        case .spread(let backends, let tolerance):
            let counts = Dictionary(log.backendCounts.map { ($0.backend, $0.count) }, uniquingKeysWith: +)
            let total = max(log.succeeded, 1)
            let fair = 1 / Double(max(backends.count, 1))
            let shares = backends.map { (name: $0, share: Double(counts[$0] ?? 0) / Double(total)) }
            let strangers = counts.keys.filter { !backends.contains($0) }.sorted()
            let even = shares.allSatisfy { abs($0.share - fair) <= tolerance } && strangers.isEmpty && log.succeeded > 0
            let text = shares.map { "\($0.name)=\(Self.format($0.share))" }.joined(separator: " ")
            return verdict(
                even,
                "spread \(text)\(strangers.isEmpty ? "" : " unexpected: \(strangers)"), wanted \(Self.format(fair))±\(Self.format(tolerance)) each")
        case .minBackends(let minimum):
            let names = log.backendCounts.map(\.backend)
            return verdict(
                names.count >= minimum && log.succeeded > 0,
                "\(names.count) backend(s) answered (\(names.joined(separator: ", "))), wanted ≥ \(minimum)")
        case .maxBackends(let maximum):
            let names = log.backendCounts.map(\.backend)
            return verdict(
                names.count <= maximum && log.succeeded > 0,
                "\(names.count) backend(s) answered (\(names.joined(separator: ", "))), wanted ≤ \(maximum)")
        case .tableMatchesSource:
            preconditionFailure("judged above")
        case .path(let wanted):
            let (taken, detail) = path(of: expectation.subject)
            return verdict(
                taken == wanted && log.succeeded > 0,
                "path \(taken?.rawValue ?? "none (nothing succeeded)")\(detail), wanted \(wanted.rawValue)")
        }
    }

    /// A flow's path. Through the mesh tunnel it is the path the client node's tunnel held to
    /// the answering pod's node when most of its requests succeeded (noted as each one did); a
    /// punch that worked is hole-punched; otherwise it follows from the topology: local when
    /// the client reaches its own node, else direct.
    private func path(of workloadName: String) -> (path: ExpectationSpec.Path?, detail: String) {
        guard let workload = scenario.workloads.first(where: { $0.name == workloadName }) else { return (nil, "") }
        switch workload.kind {
        case .punchPeer:
            return (.holePunched, "")
        case .client(let spec):
            if let counts = tunnelPaths[workloadName], let most = counts.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }) {
                let total = counts.values.reduce(0, +)
                let breakdown = counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                return (ExpectationSpec.Path(rawValue: most.key), " (\(most.value) of \(total) requests; \(breakdown))")
            }
            let own = simulator.resolve(workload.node)
            let local = spec.targets.allSatisfy { HostPort($0).flatMap { simulator.resolve($0.host) } == own }
            return (local ? .local : .direct, "")
        default:
            return (nil, "")
        }
    }

    /// Notes, for each successful request of a client on an agent node, the tunnel path to the
    /// node of the pod that answered (local when it is the client's own node).
    private func notePaths(of client: WorkloadSpec, in log: RequestLog) {
        guard mesh != nil else { return }
        let serverNodes = Dictionary(
            scenario.workloads.compactMap { workload -> (String, String)? in
                if case .httpServer(_, let podName, _) = workload.kind { return (podName, workload.node) }
                return nil
            }, uniquingKeysWith: { first, _ in first })
        log.onRecord = { [weak self] outcome in
            guard let self, outcome.succeeded, let backend = outcome.backend, let server = serverNodes[backend],
                let tunnel = self.mesh?.agent(on: client.node)?.tunnel
            else { return }
            let path = server == client.node
                ? PeerPathKind.local.rawValue
                : tunnel.peerStatuses().first { $0.node == server }?.path?.rawValue ?? "none"
            self.tunnelPaths[client.name, default: [:]][path, default: 0] += 1
        }
    }

    private static func kindName(_ kind: WorkloadSpec.Kind) -> String {
        switch kind {
        case .httpServer: "http-server"
        case .tcpEcho: "tcp-echo"
        case .udpEcho: "udp-echo"
        case .webSocketEcho: "websocket-echo"
        case .client(let spec): "\(spec.protocol.rawValue)-client"
        case .rendezvous: "rendezvous"
        case .punchPeer(let spec): "\(spec.transport.rawValue)-punch"
        case .replay: "replay"
        }
    }

    static func format(_ value: Double) -> String {
        let rounded = (value * 1000).rounded() / 1000
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}
