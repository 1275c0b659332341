/// What one seed of a sweep gave: passed or which expectations failed, and the trace, in a
/// form a sweep's processes hand each other (one JSON line) and shards can be merged from.
public struct SeedResult: Codable, Equatable, Sendable {
    public struct Failure: Codable, Equatable, Sendable {
        /// "subject kind" ("open-pair path"): what failing seeds are grouped by.
        public var expectation: String
        /// What was measured ("path hole-punched (9 of 9 requests), wanted relayed").
        public var detail: String
    }

    public var seed: UInt64
    /// Failed expectations in the file's order; empty when the seed passed.
    public var failures: [Failure]
    public var traceDigest: String
    /// The faults `--chaos` drew for this seed, one line each; nil without chaos.
    public var chaos: [String]?

    public var passed: Bool { failures.isEmpty }

    public init(seed: UInt64, failures: [Failure], traceDigest: String, chaos: [String]? = nil) {
        self.seed = seed
        self.failures = failures
        self.traceDigest = traceDigest
        self.chaos = chaos
    }

    /// The result of a run whose report is `report` (with `chaos` drawn on top of its faults).
    public init(_ report: ScenarioReport, chaos: ChaosPlan? = nil) {
        self.init(
            seed: report.seed,
            failures: report.verdicts.filter { $0.judged && !$0.passed }.map {
                Failure(expectation: "\($0.expectation.subject) \($0.expectation.kind.name)", detail: $0.detail)
            } + report.invariants.filter { !$0.passed }.map { Failure(expectation: "invariant \($0.name)", detail: $0.detail) },
            traceDigest: report.traceDigest, chaos: chaos?.descriptions)
    }

    /// A seed whose run ended without a report (the process died): the failure says how.
    public static func crashed(seed: UInt64, _ how: String) -> SeedResult {
        SeedResult(seed: seed, failures: [Failure(expectation: "the run", detail: how)], traceDigest: "")
    }
}
