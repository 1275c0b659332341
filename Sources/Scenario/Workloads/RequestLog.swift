import Mesh
import NIOCore

/// What one request (or one hole-punch attempt) of a client workload came to.
public struct RequestOutcome: Sendable, Hashable {
    public var startedAt: NIODeadline
    public var latency: TimeAmount
    public var succeeded: Bool
    /// Who answered: the pod name an HTTP server sent, or the echo target.
    public var backend: String?
    /// Why it failed, in words.
    public var failure: String?
    /// The local port the request left from (its connection's or socket's), so the run can
    /// find the flow the client's agent carried it on.
    public var clientPort: UInt16?

    public init(
        startedAt: NIODeadline, latency: TimeAmount, succeeded: Bool, backend: String? = nil, failure: String? = nil,
        clientPort: UInt16? = nil
    ) {
        self.clientPort = clientPort
        self.startedAt = startedAt
        self.latency = latency
        self.succeeded = succeeded
        self.backend = backend
        self.failure = failure
    }
}

/// The outcomes of one client workload. It lives outside the host, so a crash of the client's
/// node does not erase what was already measured. Confined to the host's event loop.
public final class RequestLog: @unchecked Sendable {
    public private(set) var outcomes: [RequestOutcome] = []

    /// Called with each outcome as it is recorded (a scenario notes the tunnel path then, and
    /// the invariants judge who answered).
    private var observers: [(RequestOutcome) -> Void] = []

    public func onRecord(_ observer: @escaping (RequestOutcome) -> Void) { observers.append(observer) }

    public init() {}

    public func record(_ outcome: RequestOutcome) {
        outcomes.append(outcome)
        for observer in observers { observer(outcome) }
    }

    /// The outcomes of requests started at or after `start`, as a log of their own (a run with
    /// chaos is judged on what it did once it settled).
    public func since(_ start: NIODeadline) -> RequestLog {
        let log = RequestLog()
        log.outcomes = outcomes.filter { $0.startedAt >= start }
        return log
    }

    public var attempted: Int { outcomes.count }
    public var succeeded: Int { outcomes.count { $0.succeeded } }

    public var successRatio: Double {
        outcomes.isEmpty ? 0 : Double(succeeded) / Double(attempted)
    }

    /// The `percentile` (0-100) of successful requests' latency, nearest-rank; `nil` if none succeeded.
    public func latency(percentile: Double) -> TimeAmount? {
        let sorted = outcomes.filter(\.succeeded).map(\.latency.nanoseconds).sorted()
        guard !sorted.isEmpty else { return nil }
        let rank = Int((percentile / 100 * Double(sorted.count)).rounded(.up))
        return .nanoseconds(sorted[min(max(rank, 1), sorted.count) - 1])
    }

    /// Successful requests per backend, sorted by backend name.
    public var backendCounts: [(backend: String, count: Int)] {
        var counts: [String: Int] = [:]
        for outcome in outcomes where outcome.succeeded {
            counts[outcome.backend ?? "?", default: 0] += 1
        }
        return counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The most common failure reasons, most frequent first.
    public var failureReasons: [(reason: String, count: Int)] {
        var counts: [String: Int] = [:]
        for outcome in outcomes where !outcome.succeeded {
            counts[outcome.failure ?? "unknown", default: 0] += 1
        }
        return counts.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { ($0.key, $0.value) }
    }
}
