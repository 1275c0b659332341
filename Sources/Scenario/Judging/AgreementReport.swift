import NetworkTopology

/// The simulator against reality for one scenario (`edgemesh lab --compare`): one row per
/// expectation and per matrix cell, with each side's verdict (or path) and value, and whether
/// they agree. A row one side could not judge agrees with anything and says so.
public struct AgreementReport: Sendable {
    public struct Row: Sendable {
        public enum Agreement: String, Sendable {
            case agree, disagree
            case notJudged = "not judged"
        }

        /// "client-a successRatio" or "matrix EIM/APDF × APDM".
        public var subject: String
        public var simulated: String
        public var real: String
        public var agreement: Agreement
    }

    public var scenario: String
    public var rows: [Row]

    /// Pairs the two reports' verdicts (in the scenario's order) and matrix cells.
    public init(simulated: ScenarioReport, real: ScenarioReport) {
        scenario = simulated.scenario
        var rows: [Row] = []
        for (sim, lab) in zip(simulated.verdicts, real.verdicts) {
            let agreement: Row.Agreement =
                !sim.judged || !lab.judged ? .notJudged : (sim.passed == lab.passed ? .agree : .disagree)
            rows.append(Row(
                subject: "\(sim.expectation.subject) \(sim.expectation.kind.name)",
                simulated: "\(sim.label) \(sim.detail)", real: "\(lab.label) \(lab.detail)", agreement: agreement))
        }
        if let simMatrix = simulated.matrix, let labMatrix = real.matrix {
            for sim in simMatrix.cells {
                guard let lab = labMatrix.cells.first(where: { $0.row == sim.row && $0.column == sim.column }) else { continue }
                let agreement: Row.Agreement = !lab.judged || !sim.judged ? .notJudged : (sim.path == lab.path ? .agree : .disagree)
                rows.append(Row(
                    subject: "matrix \(sim.row) × \(sim.column)", simulated: Self.describe(sim), real: lab.judged ? Self.describe(lab) : "n/a",
                    agreement: agreement))
            }
        }
        self.rows = rows
    }

    /// Whether no row disagrees.
    public var agrees: Bool { !rows.contains { $0.agreement == .disagree } }

    public var disagreements: [Row] { rows.filter { $0.agreement == .disagree } }

    public func render() -> String {
        let header = ["expectation / cell", "simulator", "real", ""]
        let table = [header] + rows.map { [$0.subject, Self.clip($0.simulated), Self.clip($0.real), $0.agreement.rawValue] }
        let widths = (0..<header.count).map { column in table.map { $0[column].count }.max() ?? 0 }
        var lines = ["agreement of scenario \(scenario): simulator vs network namespaces"]
        for (index, row) in table.enumerated() {
            lines.append(row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  "))
            if index == 0 { lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
        let counts = Dictionary(grouping: rows, by: \.agreement).mapValues(\.count)
        lines.append(
            "\(counts[.agree] ?? 0) agree, \(counts[.disagree] ?? 0) disagree, \(counts[.notJudged] ?? 0) not judged")
        return lines.joined(separator: "\n")
    }

    /// A cell as "hole-punched 312ms", or FAIL.
    private static func describe(_ cell: MatrixReport.Cell) -> String {
        guard let path = cell.path, let time = cell.timeToFirstByte else { return "FAIL" }
        return "\(path) \(time / Nanoseconds.millisecond)ms"
    }

    /// Details are long; the table shows the start of each.
    private static func clip(_ text: String) -> String {
        text.count <= 60 ? text : String(text.prefix(59)) + "…"
    }
}
