import NIOCore

/// Capped exponential backoff with jitter from the host's generator: attempt `n` (0-based) waits
/// at most `min(cap, base × 2ⁿ)`, so many edge nodes retrying after one outage spread out instead
/// of arriving together. Serves every retry the agent makes on its own: list-watch, publishing
/// its tunnel key, reconnecting to a relay, dialling another backend, opening a gateway port.
public struct RetryBackoff: Hashable, Sendable {
    /// Where in `0...ceiling` a wait falls.
    public enum Jitter: Hashable, Sendable {
        /// Anywhere in `0...ceiling`: the widest spread, for what many nodes do at once.
        case full
        /// In `ceiling/2...ceiling`: a floor under each wait, so a retry never comes straight back.
        case equal
    }

    public var base: TimeAmount
    public var cap: TimeAmount
    public var jitter: Jitter

    public init(base: TimeAmount = .milliseconds(500), cap: TimeAmount = .seconds(30), jitter: Jitter = .full) {
        self.base = base
        self.cap = cap
        self.jitter = jitter
    }

    /// The longest wait for attempt `attempt` (0-based).
    public func ceiling(attempt: Int) -> TimeAmount {
        let shift = min(max(attempt, 0), 62)
        let (scaled, overflow) = base.nanoseconds.multipliedReportingOverflow(by: Int64(1) << shift)
        return .nanoseconds(overflow ? cap.nanoseconds : min(scaled, cap.nanoseconds))
    }

    /// The wait before attempt `attempt` (0-based), drawn from `host`'s generator (seeded in
    /// NetSim), the only source of randomness the mesh has.
    public func delay(attempt: Int, on host: any Host) -> TimeAmount {
        let ceiling = max(ceiling(attempt: attempt).nanoseconds, 0)
        var random = host.random
        switch jitter {
        case .full: return .nanoseconds(Int64.random(in: 0...ceiling, using: &random))
        case .equal: return .nanoseconds(ceiling / 2 + Int64.random(in: 0...(ceiling / 2), using: &random))
        }
    }
}
