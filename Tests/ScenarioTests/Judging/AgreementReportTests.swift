import Testing

@testable import Scenario

@Suite("agreement report: the simulator's verdicts against a real run's")
struct AgreementReportTests {
    private let ratio = ExpectationSpec(subject: "client", kind: .minSuccessRatio(0.95))
    private let path = ExpectationSpec(subject: "client", kind: .path(.holePunched))
    private let latency = ExpectationSpec(subject: "client", kind: .latency(percentile: 99, max: 3_000_000_000))

    private func report(_ verdicts: [ScenarioReport.Verdict], cells: [MatrixReport.Cell] = []) -> ScenarioReport {
        ScenarioReport(
            scenario: "s", seed: 1, traceDigest: "", simulatedTime: 0, deliveredPackets: 0, droppedPackets: 0, processedEvents: 0,
            workloads: [], verdicts: verdicts,
            matrix: cells.isEmpty ? nil : MatrixReport(title: "m", rows: ["a"], columns: ["a", "b"], cells: cells))
    }

    @Test("the same verdicts agree; a verdict that flips disagrees; an unjudged side is neither")
    func verdictRows() {
        let simulated = report([
            .init(expectation: ratio, passed: true, detail: "success ratio 1"),
            .init(expectation: path, passed: true, detail: "path hole-punched"),
            .init(expectation: latency, passed: true, detail: "p99 1.4s"),
        ])
        let real = report([
            .init(expectation: ratio, passed: true, detail: "success ratio 0.99"),
            .init(expectation: path, passed: false, detail: "path relayed"),
            .notJudged(latency, because: "no netem"),
        ])
        let agreement = AgreementReport(simulated: simulated, real: real)
        #expect(agreement.rows.map(\.agreement) == [.agree, .disagree, .notJudged])
        #expect(agreement.rows.map(\.subject) == ["client successRatio.min", "client path", "client latency.p99"])
        #expect(!agreement.agrees)
        #expect(agreement.disagreements.map(\.real) == ["FAIL path relayed"])
        #expect(agreement.render().hasSuffix("1 agree, 1 disagree, 1 not judged"))
    }

    @Test("matrix cells agree on the path, whatever the time to first byte")
    func matrixRows() {
        let simulated = report([], cells: [
            MatrixReport.Cell(row: "a", column: "a", workload: "aa", path: "hole-punched", timeToFirstByte: 860_000_000),
            MatrixReport.Cell(row: "a", column: "b", workload: "ab", path: "relayed", timeToFirstByte: 960_000_000),
        ])
        var unbuilt = MatrixReport.Cell(row: "a", column: "b", workload: "ab", path: nil, timeToFirstByte: nil)
        unbuilt.judged = false
        let real = report([], cells: [
            MatrixReport.Cell(row: "a", column: "a", workload: "aa", path: "hole-punched", timeToFirstByte: 74_000_000),
            unbuilt,
        ])
        let agreement = AgreementReport(simulated: simulated, real: real)
        #expect(agreement.rows.map(\.agreement) == [.agree, .notJudged])
        #expect(agreement.rows.map(\.real) == ["hole-punched 74ms", "n/a"])
        #expect(agreement.agrees)

        let failed = report([], cells: [MatrixReport.Cell(row: "a", column: "a", workload: "aa", path: nil, timeToFirstByte: nil)])
        #expect(AgreementReport(simulated: simulated, real: failed).rows.first?.agreement == .disagree)
    }
}
