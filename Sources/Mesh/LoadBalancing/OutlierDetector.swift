import NIOCore

/// Takes backends that keep refusing connections out of rotation for a while, like Istio's
/// outlier detection (on only where a DestinationRule asks for it): after
/// `consecutiveFailures` failed dials in a row a backend is ejected for `baseEjectionTime`
/// times the number of times it has been ejected (capped at `maximumEjectionTime`); one
/// successful connection clears its failure count.
///
/// At most `maxEjectionPercent` of the backends are ejected at once (always at least one may
/// be); while fewer than `minHealthPercent` are healthy, every backend is used (Envoy's panic
/// threshold); and when every candidate is ejected they are all used again, since trying a
/// doubtful backend beats refusing every client.
public struct OutlierDetector: Sendable {
    public struct Configuration: Hashable, Sendable {
        public var consecutiveFailures: Int
        public var baseEjectionTime: TimeAmount
        public var maximumEjectionTime: TimeAmount
        /// The most backends ejected at once, in percent of the service's (at least one).
        public var maxEjectionPercent: Int
        /// Below this percentage of healthy backends, all are balanced over; 0 turns it off.
        public var minHealthPercent: Int

        public init(
            consecutiveFailures: Int = 5, baseEjectionTime: TimeAmount = .seconds(30),
            maximumEjectionTime: TimeAmount = .seconds(300), maxEjectionPercent: Int = 10, minHealthPercent: Int = 0
        ) {
            self.consecutiveFailures = max(1, consecutiveFailures)
            self.baseEjectionTime = baseEjectionTime
            self.maximumEjectionTime = maximumEjectionTime
            self.maxEjectionPercent = min(max(maxEjectionPercent, 0), 100)
            self.minHealthPercent = min(max(minHealthPercent, 0), 100)
        }

        /// What a DestinationRule's `outlierDetection` asks for; nil when it turns ejection off.
        public init?(_ rule: DestinationRule.OutlierDetection) {
            guard rule.consecutiveErrors > 0 else { return nil }
            self.init(
                consecutiveFailures: rule.consecutiveErrors, baseEjectionTime: rule.baseEjectionTime,
                maxEjectionPercent: rule.maxEjectionPercent, minHealthPercent: rule.minHealthPercent)
        }
    }

    private struct Record: Sendable {
        var consecutiveFailures = 0
        var ejections = 0
        var ejectedUntil: NIODeadline?
    }

    public let configuration: Configuration
    private var records: [ServiceBackend: Record] = [:]

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public func isEjected(_ backend: ServiceBackend, at now: NIODeadline) -> Bool {
        guard let until = records[backend]?.ejectedUntil else { return false }
        return until > now
    }

    /// The candidates not ejected at `now`; all of them when every one is, or when fewer than
    /// `minHealthPercent` of the service's `backends` are healthy.
    public func usable(_ candidates: [ServiceBackend], outOf backends: [ServiceBackend], at now: NIODeadline) -> [ServiceBackend] {
        // The usual case, on every request of a request-balanced connection: nothing to filter.
        guard !records.isEmpty else { return candidates }
        if configuration.minHealthPercent > 0 {
            let healthy = backends.filter { !isEjected($0, at: now) }.count
            if healthy * 100 < configuration.minHealthPercent * backends.count { return candidates }
        }
        let healthy = candidates.filter { !isEjected($0, at: now) }
        return healthy.isEmpty ? candidates : healthy
    }

    /// A dial to `backend`, one of `backendCount`, failed at `now`; returns true when this
    /// failure ejected it.
    @discardableResult
    public mutating func recordFailure(_ backend: ServiceBackend, outOf backendCount: Int, at now: NIODeadline) -> Bool {
        var record = records[backend] ?? Record()
        record.consecutiveFailures += 1
        var ejected = false
        let ejectedNow = records.values.filter { $0.ejectedUntil.map { $0 > now } ?? false }.count
        let mayEject = ejectedNow < max(1, backendCount * configuration.maxEjectionPercent / 100)
        if record.consecutiveFailures >= configuration.consecutiveFailures && !isEjected(backend, at: now) && mayEject {
            record.ejections += 1
            let time = min(
                configuration.baseEjectionTime.nanoseconds * Int64(record.ejections),
                configuration.maximumEjectionTime.nanoseconds)
            record.ejectedUntil = now + .nanoseconds(time)
            record.consecutiveFailures = 0
            ejected = true
        }
        records[backend] = record
        return ejected
    }

    /// A connection to `backend` succeeded: its failure streak ends. The ejection count is kept
    /// (a backend that flaps is ejected for longer each time) until it stays healthy.
    public mutating func recordSuccess(_ backend: ServiceBackend) {
        guard var record = records[backend] else { return }
        record.consecutiveFailures = 0
        record.ejectedUntil = nil
        if record.ejections == 0 {
            records[backend] = nil
        } else {
            record.ejections -= 1
            records[backend] = record
        }
    }

    /// Forgets backends no longer in the service, so the table does not grow for ever.
    public mutating func retain(only backends: Set<ServiceBackend>) {
        records = records.filter { backends.contains($0.key) }
    }
}
