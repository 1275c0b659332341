import NIOCore

/// The client-side request limit client-go applies (`qps` and `burst` of `kubeAPIConfig`): a
/// token bucket holding at most `burst` tokens, refilled at `qps` per second of the host's
/// clock. Every request (a list, a watch start, a patch) takes one token; when none is left it
/// waits until its token has accrued, so a storm of relists is spread at `qps` instead of
/// hitting an API server that is already struggling.
///
/// Waiting requests queue up: each reservation takes the next token even when that token lies
/// in the future, as client-go's limiter does. Confined to the host's event loop.
public final class KubernetesRateLimiter: @unchecked Sendable {
    public struct Limit: Hashable, Sendable, CustomStringConvertible {
        /// Requests per second, sustained.
        public var qps: Double
        /// Requests that may go at once after a quiet spell.
        public var burst: Int

        /// `qps` must be positive and `burst` at least 1 (the configuration parser checks both).
        public init(qps: Double, burst: Int) {
            precondition(qps > 0 && burst >= 1, "a rate limit needs qps > 0 and burst >= 1")
            self.qps = qps
            self.burst = burst
        }

        /// EdgeMesh's defaults for `kubeAPIConfig`.
        public static let edgeMeshDefault = Limit(qps: 100, burst: 200)

        public var description: String { "qps \(qps), burst \(burst)" }
    }

    public let limit: Limit
    /// Tokens at `updatedAt`; negative while requests wait for tokens not yet accrued.
    private var tokens: Double
    private var updatedAt: NIODeadline?

    public init(limit: Limit) {
        self.limit = limit
        self.tokens = Double(limit.burst)
    }

    /// Takes a token and says how long the request must wait for it (zero when one is free).
    public func reserve(now: NIODeadline) -> TimeAmount {
        if let updatedAt, now > updatedAt {
            let elapsed = Double((now - updatedAt).nanoseconds) / 1e9
            tokens = min(Double(limit.burst), tokens + elapsed * limit.qps)
        }
        updatedAt = max(updatedAt ?? now, now)
        tokens -= 1
        guard tokens < 0 else { return .zero }
        return .nanoseconds(Int64((-tokens / limit.qps * 1e9).rounded(.up)))
    }
}
