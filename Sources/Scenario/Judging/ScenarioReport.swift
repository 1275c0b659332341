import Mesh
import NetworkTopology

/// What a scenario run came to: per-workload figures, each expectation's verdict, and the
/// run's fingerprint (seed and trace hash).
public struct ScenarioReport: Sendable {
    public struct WorkloadSummary: Sendable {
        public var name: String
        public var kind: String
        public var node: String
        public var attempted: Int
        public var succeeded: Int
        public var p50: UInt64?
        public var p99: UInt64?
        public var backends: [(backend: String, count: Int)]
        public var failureReasons: [(reason: String, count: Int)]
        /// Servers answer; they have no requests of their own to count.
        public var isServer: Bool
    }

    public struct Verdict: Sendable {
        public var expectation: ExpectationSpec
        public var passed: Bool
        /// What was measured, in words ("success ratio 0.97 < 0.99"); why not, when not judged.
        public var detail: String
        /// False when the testbed could not give the expectation what it needs (a latency on a
        /// kernel without netem, a NAT Linux cannot build): it then neither passes nor fails.
        public var judged: Bool

        public init(expectation: ExpectationSpec, passed: Bool, detail: String, judged: Bool = true) {
            self.expectation = expectation
            self.passed = passed
            self.detail = detail
            self.judged = judged
        }

        /// An expectation the testbed cannot judge, and why.
        public static func notJudged(_ expectation: ExpectationSpec, because reason: String) -> Verdict {
            Verdict(expectation: expectation, passed: true, detail: "not judged: \(reason)", judged: false)
        }

        /// PASS, FAIL or SKIP (not judged).
        public var label: String { judged ? (passed ? "PASS" : "FAIL") : "SKIP" }
    }

    public var scenario: String
    public var seed: UInt64
    public var traceDigest: String
    public var simulatedTime: UInt64
    public var deliveredPackets: UInt64
    public var droppedPackets: UInt64
    public var processedEvents: UInt64
    public var workloads: [WorkloadSummary]
    public var verdicts: [Verdict]
    /// The scenario's matrix, when it has one.
    public var matrix: MatrixReport?
    /// The invariants the testbed could check, each held or first broken.
    public var invariants: [InvariantVerdict]
    /// Set for a run on real network namespaces (`edgemesh lab`): how long it took on the wall
    /// clock. Such a run has no trace and counts no packets.
    public var labWallTime: UInt64?

    public init(
        scenario: String, seed: UInt64, traceDigest: String, simulatedTime: UInt64, deliveredPackets: UInt64,
        droppedPackets: UInt64, processedEvents: UInt64, workloads: [WorkloadSummary], verdicts: [Verdict],
        matrix: MatrixReport?, invariants: [InvariantVerdict] = []
    ) {
        self.scenario = scenario
        self.seed = seed
        self.traceDigest = traceDigest
        self.simulatedTime = simulatedTime
        self.deliveredPackets = deliveredPackets
        self.droppedPackets = droppedPackets
        self.processedEvents = processedEvents
        self.workloads = workloads
        self.verdicts = verdicts
        self.matrix = matrix
        self.invariants = invariants
    }

    public var passed: Bool { verdicts.allSatisfy(\.passed) && invariants.allSatisfy(\.passed) }

    /// The human summary: a table of workloads, then the expectations.
    public func renderTable() -> String {
        var lines: [String] = []
        if let labWallTime {
            lines.append("scenario \(scenario): on network namespaces of this kernel, \(Nanoseconds.format(labWallTime)) wall time")
        } else {
            lines.append("scenario \(scenario): \(Nanoseconds.format(simulatedTime)) simulated, "
                + "\(deliveredPackets) packets delivered, \(droppedPackets) dropped, \(processedEvents) events")
        }
        let header = ["workload", "kind", "node", "ok/sent", "p50", "p99", "answered by / failures"]
        var rows = [header]
        for workload in workloads {
            let detail = workload.backends.map { "\($0.backend)=\($0.count)" }
                + workload.failureReasons.prefix(3).map { "\($0.reason) ×\($0.count)" }
            rows.append([
                workload.name, workload.kind, workload.node,
                workload.isServer ? "-" : "\(workload.succeeded)/\(workload.attempted)",
                workload.p50.map(Nanoseconds.format) ?? "-", workload.p99.map(Nanoseconds.format) ?? "-",
                detail.joined(separator: " "),
            ])
        }
        let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for (index, row) in rows.enumerated() {
            let cells = row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }
            lines.append(cells.joined(separator: "  "))
            if index == 0 { lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
        if let matrix {
            lines.append("")
            lines.append(matrix.render())
        }
        if !verdicts.isEmpty || !invariants.isEmpty {
            lines.append("")
            for verdict in verdicts {
                lines.append("\(verdict.label)  \(verdict.expectation.subject): \(verdict.detail)")
            }
            lines += invariants.map(\.line)
        }
        return lines.joined(separator: "\n")
    }
}
