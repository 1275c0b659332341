import Mesh
import NIOCore
import Testing

/// The token bucket behind `kubeAPIConfig.qps`/`burst`, driven by explicit clock readings.
@Suite struct KubernetesRateLimiterTests {
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func aBurstGoesAtOnceThenRequestsWaitOneQPSIntervalEach() {
        let limiter = KubernetesRateLimiter(limit: .init(qps: 4, burst: 3))
        let waits = (0..<6).map { _ in limiter.reserve(now: Self.start) }
        #expect(waits == [.zero, .zero, .zero, .milliseconds(250), .milliseconds(500), .milliseconds(750)])
    }

    @Test func aQuietSpellRefillsTheBucketButNeverPastTheBurst() {
        let limiter = KubernetesRateLimiter(limit: .init(qps: 2, burst: 2))
        _ = limiter.reserve(now: Self.start)
        _ = limiter.reserve(now: Self.start)
        // An hour later only two requests go at once, not 7,200.
        let later = Self.start + .hours(1)
        #expect(limiter.reserve(now: later) == .zero)
        #expect(limiter.reserve(now: later) == .zero)
        #expect(limiter.reserve(now: later) == .milliseconds(500))
        // Half an interval after that, the waiting request's token is half grown.
        #expect(limiter.reserve(now: later + .milliseconds(250)) == .milliseconds(750))
    }

    @Test func overAnyWindowNoMoreThanBurstPlusQPSTimesTheWindowStart() {
        let limit = KubernetesRateLimiter.Limit(qps: 5, burst: 10)
        let limiter = KubernetesRateLimiter(limit: limit)
        // 1,000 requests asked for within 10 s; each starts after its wait.
        var starts: [NIODeadline] = []
        for index in 0..<1000 {
            let now = Self.start + .milliseconds(Int64(index) * 10)
            starts.append(now + limiter.reserve(now: now))
        }
        for seconds in [1, 10, 60, 150] {
            let window = Self.start + .seconds(Int64(seconds))
            let started = starts.filter { $0 <= window }.count
            #expect(started <= limit.burst + Int(limit.qps) * seconds, "\(started) started within \(seconds) s")
            #expect(started >= Int(limit.qps) * seconds, "the limiter must not stall: \(started) within \(seconds) s")
        }
    }
}
