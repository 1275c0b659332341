import Mesh

/// A condition the run must meet for `edgemesh sim` to exit 0.
public struct ExpectationSpec: Hashable, Sendable {
    public enum Path: String, Hashable, Sendable, CaseIterable {
        case local, direct
        case holePunched = "hole-punched"
        case relayed
    }

    public enum Kind: Hashable, Sendable {
        /// At least this share of the workload's requests (or punches) succeeded.
        case minSuccessRatio(Double)
        /// At most this share succeeded: for flows that must fail (a NAT that must filter).
        case maxSuccessRatio(Double)
        /// The given percentile of request latency is at most `max` nanoseconds.
        case latency(percentile: Double, max: UInt64)
        /// Each named backend answered its equal share of requests, within `tolerance` (0.1 = ±10
        /// percentage points).
        case spread(backends: [String], tolerance: Double)
        /// At least / at most this many distinct backends answered the workload's requests
        /// (`max: 1` holds a client to one backend: session affinity, consistent hashing).
        case minBackends(Int)
        case maxBackends(Int)
        /// Successful flows took this path.
        case path(Path)
        /// At the end of the run the agent on the subject node holds exactly the objects its
        /// source holds (the API server's, at the same resource versions; or the manifests).
        case tableMatchesSource
    }

    /// The client or punch-peer workload the expectation is about; for `tableMatchesSource`,
    /// the node whose agent it is about.
    public var subject: String
    public var kind: Kind

    public init(subject: String, kind: Kind) {
        self.subject = subject
        self.kind = kind
    }
}

extension ExpectationSpec.Kind {
    /// The kind as the file spells its key ("successRatio.min", "latency.p99", "path"): what a
    /// table row or a group of failing seeds is named by, without the wanted value.
    public var name: String {
        switch self {
        case .minSuccessRatio: "successRatio.min"
        case .maxSuccessRatio: "successRatio.max"
        case .latency(let percentile, _): "latency.p\(ScenarioJudge.format(percentile))"
        case .spread: "spread"
        case .minBackends: "backends.min"
        case .maxBackends: "backends.max"
        case .path: "path"
        case .tableMatchesSource: "tableMatchesSource"
        }
    }
}
