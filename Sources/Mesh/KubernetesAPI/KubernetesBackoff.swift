import NIOCore

/// Capped exponential backoff with full jitter: attempt `n` waits a uniformly random time in
/// `0...min(cap, base * 2^n)`, so many edge nodes reconnecting after one cloud outage spread out
/// instead of arriving together.
public struct KubernetesBackoff: Hashable, Sendable {
    public var base: TimeAmount
    public var cap: TimeAmount

    public init(base: TimeAmount = .milliseconds(500), cap: TimeAmount = .seconds(30)) {
        self.base = base
        self.cap = cap
    }

    /// The longest wait for attempt `attempt` (0-based).
    public func ceiling(attempt: Int) -> TimeAmount {
        let shift = min(max(attempt, 0), 62)
        let (scaled, overflow) = base.nanoseconds.multipliedReportingOverflow(by: Int64(1) << shift)
        return .nanoseconds(overflow ? cap.nanoseconds : min(scaled, cap.nanoseconds))
    }

    public func delay(attempt: Int, using random: inout some RandomNumberGenerator) -> TimeAmount {
        let ceiling = max(ceiling(attempt: attempt).nanoseconds, 0)
        return .nanoseconds(Int64.random(in: 0...ceiling, using: &random))
    }
}
