import NetworkTopology

/// One invariant's verdict over a run: held throughout, or the first time it did not and how.
public struct InvariantVerdict: Sendable, Hashable {
    /// The invariant's name ("safety", "liveness", "agents-alive", "no-plaintext").
    public var name: String
    /// The first violation, nanoseconds into the run; nil when it held.
    public var violatedAt: UInt64?
    /// What was checked, or what broke it, in words.
    public var detail: String

    public var passed: Bool { violatedAt == nil }

    public init(name: String, violatedAt: UInt64?, detail: String) {
        self.name = name
        self.violatedAt = violatedAt
        self.detail = detail
    }

    /// "PASS invariant safety: …" or "FAIL invariant safety at 1m12s: …".
    public var line: String {
        "\(passed ? "PASS" : "FAIL")  invariant \(name)\(violatedAt.map { " at \(Nanoseconds.format($0))" } ?? ""): \(detail)"
    }
}
