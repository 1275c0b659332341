import Mesh
import NIOCore
import NetworkTopology

/// Judges a finished run: sums up each workload's log, gives every expectation its verdict in
/// words, and fills in the scenario's matrix. Knows nothing of the testbed beyond
/// `ScenarioTestbed` (addresses, the agents' tables).
public struct ScenarioJudge {
    public let scenario: Scenario
    public let testbed: any ScenarioTestbed
    /// Logs of the clients, punch peers and replays, by workload name.
    public let logs: [String: RequestLog]
    public let paths: TunnelPathTracker

    public init(scenario: Scenario, testbed: any ScenarioTestbed, logs: [String: RequestLog], paths: TunnelPathTracker) {
        self.scenario = scenario
        self.testbed = testbed
        self.logs = logs
        self.paths = paths
    }

    /// One line per workload for the summary table.
    public func workloadSummaries() -> [ScenarioReport.WorkloadSummary] {
        scenario.workloads.map { workload -> ScenarioReport.WorkloadSummary in
            let log = logs[workload.name]
            return ScenarioReport.WorkloadSummary(
                name: workload.name, kind: Self.kindName(workload.kind), node: workload.node,
                attempted: log?.attempted ?? 0, succeeded: log?.succeeded ?? 0,
                p50: log?.latency(percentile: 50).map { UInt64($0.nanoseconds) },
                p99: log?.latency(percentile: 99).map { UInt64($0.nanoseconds) },
                backends: log?.backendCounts ?? [], failureReasons: log?.failureReasons ?? [], isServer: log == nil)
        }
    }

    /// Every expectation's verdict, in the scenario's order.
    public func verdicts() -> [ScenarioReport.Verdict] { scenario.expectations.map(judge) }

    /// The scenario's matrix as measured, when it has one.
    public func matrix() -> MatrixReport? { scenario.matrix.map(matrixReport) }

    private func matrixReport(_ spec: MatrixSpec) -> MatrixReport {
        let cells = spec.cells.map { cell -> MatrixReport.Cell in
            let outcomes = logs[cell.workload]?.outcomes ?? []
            let firstByte = outcomes.first(where: \.succeeded).flatMap { success in
                outcomes.first.map { UInt64((success.startedAt + success.latency - $0.startedAt).nanoseconds) }
            }
            return MatrixReport.Cell(
                row: cell.row, column: cell.column, workload: cell.workload,
                path: firstByte == nil ? nil : paths.path(of: cell.workload).path?.rawValue, timeToFirstByte: firstByte)
        }
        return MatrixReport(title: spec.title, rows: spec.rows, columns: spec.columns, cells: cells)
    }

    private func judge(_ expectation: ExpectationSpec) -> ScenarioReport.Verdict {
        if expectation.kind == .tableMatchesSource {
            guard scenario.mesh != nil else { return .init(expectation: expectation, passed: false, detail: "the scenario runs no agents") }
            let (matches, detail) = testbed.tableMatchesSource(on: expectation.subject)
            return .init(expectation: expectation, passed: matches, detail: detail)
        }
        guard let wholeLog = logs[expectation.subject] else {
            return .init(expectation: expectation, passed: false, detail: "no client or punch-peer workload of that name")
        }
        // With chaos, what the file expects must hold again once the drawn faults have settled.
        let settled = scenario.settlesAt.map { testbed.deadline(at: $0) }
        let log = settled.map { wholeLog.since($0) } ?? wholeLog
        let window = scenario.settlesAt.map { " (requests from \(Nanoseconds.format($0)) on, after the chaos settled)" } ?? ""
        if settled != nil && log.attempted == 0 {
            return .notJudged(expectation, because: "no request started after the chaos settled")
        }
        func verdict(_ passed: Bool, _ detail: String) -> ScenarioReport.Verdict {
            .init(expectation: expectation, passed: passed, detail: detail + window)
        }
        let ratio = log.successRatio
        let ratioText = "success ratio \(Self.format(ratio)) (\(log.succeeded)/\(log.attempted))"
        switch expectation.kind {
        case .minSuccessRatio(let minimum):
            return verdict(log.attempted > 0 && ratio >= minimum, "\(ratioText), wanted ≥ \(Self.format(minimum))")
        case .maxSuccessRatio(let maximum):
            return verdict(log.attempted > 0 && ratio <= maximum, "\(ratioText), wanted ≤ \(Self.format(maximum))")
        case .latency(let percentile, let maximum):
            // After chaos only the settled tail is judged; a p99 of 30 requests is their slowest
            // one, which says nothing about the 99th percentile.
            let needed = Int((100 / max(100 - percentile, 0.01)).rounded(.up))
            if settled != nil && log.succeeded < needed {
                return .notJudged(
                    expectation, because: "\(log.succeeded) request(s) answered after the chaos settled; a p\(Self.format(percentile)) needs \(needed)")
            }
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
            let (taken, detail) = paths.path(of: expectation.subject, since: settled)
            // After chaos, which side dialled first decides between a dialled and a punched
            // connection, and a pair may do better than relayed; staying worse is the failure.
            let acceptable = settled == nil ? taken == wanted : taken.map { Self.isAtLeastAsGood($0, as: wanted) } ?? false
            return verdict(
                acceptable && log.succeeded > 0,
                "path \(taken?.rawValue ?? "none (nothing succeeded)")\(detail), wanted \(wanted.rawValue)"
                    + (settled == nil || taken == wanted ? "" : " or as good"))
        }
    }

    /// Whether `taken` serves a flow as well as `wanted`: a connection of its own (dialled or
    /// punched) is as good as either and better than relayed; local only equals local.
    static func isAtLeastAsGood(_ taken: ExpectationSpec.Path, as wanted: ExpectationSpec.Path) -> Bool {
        switch (taken, wanted) {
        case (.local, .local): true
        case (.direct, .direct), (.direct, .holePunched), (.holePunched, .direct), (.holePunched, .holePunched): true
        case (.direct, .relayed), (.holePunched, .relayed), (.relayed, .relayed): true
        default: false
        }
    }

    private static func kindName(_ kind: WorkloadSpec.Kind) -> String {
        switch kind {
        case .httpServer: "http-server"
        case .grpcServer: "grpc-server"
        case .tcpEcho: "tcp-echo"
        case .udpEcho: "udp-echo"
        case .webSocketEcho: "websocket-echo"
        case .client(let spec): "\(spec.protocol.rawValue)-client"
        case .rendezvous: "rendezvous"
        case .punchPeer(let spec): "\(spec.transport.rawValue)-punch"
        case .replay: "replay"
        }
    }

    /// A ratio or share with at most three decimals, without trailing zeros ("0.95", "1").
    static func format(_ value: Double) -> String {
        let rounded = (value * 1000).rounded() / 1000
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}
