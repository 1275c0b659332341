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
        /// Successful flows took this path.
        case path(Path)
    }

    /// The client or punch-peer workload the expectation is about.
    public var workload: String
    public var kind: Kind

    public init(workload: String, kind: Kind) {
        self.workload = workload
        self.kind = kind
    }
}
