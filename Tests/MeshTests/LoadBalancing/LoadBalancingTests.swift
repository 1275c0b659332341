@testable import Mesh
import NIOCore
import Testing

/// A seeded generator for balancer tests (SplitMix64), so every run picks the same way.
final class SeededEntropy: EntropySource, @unchecked Sendable {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    func nextUInt64() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Each load-balancing policy's spread and stickiness, and the pieces around them (affinity,
/// outlier ejection, the generated cookie, the request-head peek).
@Suite struct LoadBalancingTests {
    static let backends = (1...3).map { ServiceBackend(address: IPv4Address(10, 1, 0, UInt8($0)), port: 8080) }
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func random(_ seed: UInt64 = 7) -> MeshRandom { MeshRandom(source: SeededEntropy(seed: seed)) }

    static func counts(_ picks: [ServiceBackend]) -> [Int] {
        backends.map { backend in picks.count { $0 == backend } }
    }

    static func request(header: String? = nil, cookie: String? = nil, target: String = "/", client: IPv4Address? = nil)
        -> RequestAttributes
    {
        var headers: [(name: String, value: String)] = [("Host", "web")]
        if let header { headers.append(("X-User", header)) }
        if let cookie { headers.append(("Cookie", "theme=dark; session=\(cookie)")) }
        return RequestAttributes(
            clientAddress: client, httpRequest: HTTPRequestSummary(method: "GET", target: target, headers: headers))
    }

    static func pick(_ balancer: any BalancingAlgorithm, _ request: RequestAttributes, load: BackendLoad = BackendLoad(),
                     among candidates: [ServiceBackend] = backends, random: inout MeshRandom) -> ServiceBackend {
        balancer.pick(from: candidates, for: request, load: load, random: &random)
    }

    // MARK: Policies from DestinationRules

    @Test func policiesFollowTheDestinationRule() {
        #expect(LoadBalancingPolicy(nil) == .roundRobin)
        #expect(LoadBalancingPolicy(.simple(.unspecified)) == .roundRobin)
        #expect(LoadBalancingPolicy(.simple(.random)) == .random)
        #expect(LoadBalancingPolicy(.simple(.leastConn)) == .leastRequest)
        #expect(LoadBalancingPolicy(.consistentHash(.init(key: .sourceIP))) == .consistentHash(.sourceIP, minimumRingSize: 1024))
        #expect(LoadBalancingPolicy(.consistentHash(.init(key: .httpHeaderName("x")))).needsHTTPRequest)
        #expect(!LoadBalancingPolicy(.consistentHash(.init(key: .sourceIP))).needsHTTPRequest)
    }

    // MARK: Simple policies

    @Test func roundRobinVisitsEachBackendInTurn() {
        var random = Self.random()
        let balancer = RoundRobinBalancer()
        let picks = (0..<300).map { _ in Self.pick(balancer, RequestAttributes(), random: &random) }
        #expect(Array(picks.prefix(4)) == [Self.backends[0], Self.backends[1], Self.backends[2], Self.backends[0]])
        #expect(Self.counts(picks) == [100, 100, 100])
    }

    @Test func randomSpreadsRoughlyEvenlyAndIsReproducible() {
        var first = Self.random(11), second = Self.random(11)
        let balancer = RandomBalancer()
        let picks = (0..<3000).map { _ in Self.pick(balancer, RequestAttributes(), random: &first) }
        let again = (0..<3000).map { _ in Self.pick(balancer, RequestAttributes(), random: &second) }
        #expect(picks == again)
        for count in Self.counts(picks) { #expect((850...1150).contains(count)) }
    }

    @Test func leastRequestPrefersTheLeastBusyBackend() {
        var random = Self.random()
        var load = BackendLoad()
        for _ in 0..<2 { load.increment(Self.backends[0]) }
        load.increment(Self.backends[2])
        let balancer = LeastRequestBalancer()
        let picks = (0..<50).map { _ in Self.pick(balancer, RequestAttributes(), load: load, random: &random) }
        #expect(Set(picks) == [Self.backends[1]])

        // Opening connections one by one keeps the backends level.
        var growing = BackendLoad()
        for _ in 0..<30 {
            growing.increment(Self.pick(balancer, RequestAttributes(), load: growing, random: &random))
        }
        #expect(Self.backends.map(growing.load(of:)) == [10, 10, 10])
        growing.decrement(Self.backends[1])
        #expect(Self.pick(balancer, RequestAttributes(), load: growing, random: &random) == Self.backends[1])
    }

    @Test func leastRequestAvoidsABackendUntilItsConnectionsClose() {
        var random = Self.random()
        let selector = BackendSelector(policy: .leastRequest)
        func choose() -> ServiceBackend? {
            selector.choose(
                among: Self.backends, for: RequestAttributes(), excluding: [], at: Self.start, random: &random,
                generatedCookieValue: "")?.backend
        }
        for backend in Self.backends.prefix(2) {
            selector.connectionOpened(to: backend, for: RequestAttributes(), at: Self.start)
        }
        #expect((0..<20).map { _ in choose() }.allSatisfy { $0 == Self.backends[2] })
        selector.connectionOpened(to: Self.backends[2], for: RequestAttributes(), at: Self.start)
        selector.connectionOpened(to: Self.backends[2], for: RequestAttributes(), at: Self.start)
        selector.connectionClosed(to: Self.backends[0])
        #expect(choose() == Self.backends[0])
    }

    @Test func policiesThatDoNotWeighLoadKeepNoConnectionCounts() {
        // The proxy then keeps no close callback per connection (memory per idle connection).
        for policy in [LoadBalancingPolicy.roundRobin, .random] {
            let selector = BackendSelector(policy: policy)
            selector.connectionOpened(to: Self.backends[0], for: RequestAttributes(), at: Self.start)
            #expect(!policy.weighsLoad)
            #expect(selector.load.total == 0)
        }
        #expect(LoadBalancingPolicy.leastRequest.weighsLoad)
        #expect(LoadBalancingPolicy.consistentHash(.sourceIP, minimumRingSize: 64).weighsLoad)
    }

    // MARK: Consistent hashing

    @Test func headerHashSticksAndSpreads() {
        var random = Self.random()
        let balancer = ConsistentHashBalancer(key: .httpHeaderName("x-user"), minimumRingSize: 1024)
        let alice = Self.pick(balancer, Self.request(header: "alice"), random: &random)
        for _ in 0..<20 { #expect(Self.pick(balancer, Self.request(header: "alice"), random: &random) == alice) }
        let picks = (0..<900).map { Self.pick(balancer, Self.request(header: "user-\($0)"), random: &random) }
        for count in Self.counts(picks) { #expect(count > 200, "a ring should give each backend a fair share: \(Self.counts(picks))") }
    }

    @Test func removingABackendMovesOnlyItsKeys() {
        var random = Self.random()
        let balancer = ConsistentHashBalancer(key: .httpHeaderName("x-user"), minimumRingSize: 1024)
        let keys = (0..<600).map { "user-\($0)" }
        let before = keys.map { Self.pick(balancer, Self.request(header: $0), random: &random) }
        let remaining = [Self.backends[0], Self.backends[2]]
        let after = keys.map { Self.pick(balancer, Self.request(header: $0), among: remaining, random: &random) }
        for (old, new) in zip(before, after) where old != Self.backends[1] {
            #expect(old == new)
        }
        #expect(!after.contains(Self.backends[1]))
    }

    @Test func boundedLoadSpillsAHotKeyToTheNextBackend() {
        var random = Self.random()
        let balancer = ConsistentHashBalancer(key: .httpHeaderName("x-user"), minimumRingSize: 1024)
        let owner = Self.pick(balancer, Self.request(header: "hot"), random: &random)
        var load = BackendLoad()
        for _ in 0..<5 { load.increment(owner) }
        // Capacity is ⌈1.25 × (5 + 1) / 3⌉ = 3: the owner is full, the key spills.
        let spilled = Self.pick(balancer, Self.request(header: "hot"), load: load, random: &random)
        #expect(spilled != owner)
        #expect(Self.pick(balancer, Self.request(header: "hot"), load: load, random: &random) == spilled)
    }

    @Test func sourceIPHashUsesTheAddressNotThePort() {
        var random = Self.random()
        let balancer = ConsistentHashBalancer(key: .sourceIP, minimumRingSize: 64)
        let client = IPv4Address(192, 168, 1, 20)
        let first = Self.pick(balancer, RequestAttributes(clientAddress: client), random: &random)
        for _ in 0..<10 { #expect(Self.pick(balancer, RequestAttributes(clientAddress: client), random: &random) == first) }
        let picks = (1...200).map { Self.pick(balancer, RequestAttributes(clientAddress: IPv4Address(10, 2, 0, UInt8($0))), random: &random) }
        #expect(Set(picks).count == 3)
    }

    @Test func queryParameterAndCookieKeysAreReadFromTheRequest() {
        var random = Self.random()
        let byQuery = ConsistentHashBalancer(key: .httpQueryParameterName("user"), minimumRingSize: 256)
        let first = Self.pick(byQuery, Self.request(target: "/items?page=2&user=bob#top"), random: &random)
        #expect(Self.pick(byQuery, Self.request(target: "/other?user=bob"), random: &random) == first)
        #expect(Self.request(target: "/items?page=2&user=bob#top").hashText(for: .httpQueryParameterName("user")) == "bob")
        #expect(Self.request(target: "/?flag").hashText(for: .httpQueryParameterName("flag")) == "")
        #expect(Self.request(target: "/").hashText(for: .httpQueryParameterName("user")) == nil)
        #expect(Self.request(cookie: "s1").hashText(for: .httpCookie(.init(name: "session"))) == "s1")
        #expect(Self.request(cookie: "s1").hashText(for: .httpCookie(.init(name: "sess"))) == nil)
    }

    @Test func aRequestWithoutTheKeyStillGetsABackend() {
        var random = Self.random()
        let balancer = ConsistentHashBalancer(key: .httpHeaderName("x-user"), minimumRingSize: 64)
        let picks = (0..<300).map { _ in Self.pick(balancer, Self.request(), random: &random) }
        #expect(Set(picks).count == 3)
    }

    @Test func anAbsurdRingSizeIsCapped() {
        let ring = HashRing(backends: Self.backends, minimumRingSize: Int.max)
        #expect(ring.pointCount <= HashRing.maximumPoints + Self.backends.count)
        #expect(HashRing(backends: Self.backends, minimumRingSize: -5).pointCount == 3)
    }

    // MARK: The selector: cookie generation, affinity, ejection

    @Test func cookiePolicySetsTheCookieWhenAbsentAndHonoursItAfterwards() throws {
        var random = Self.random()
        let cookie = DestinationRule.HTTPCookie(name: "session", path: "/", ttl: .seconds(60))
        let selector = BackendSelector(policy: .consistentHash(.httpCookie(cookie), minimumRingSize: 1024))
        let first = try #require(selector.choose(
            among: Self.backends, for: Self.request(), excluding: [], at: Self.start, random: &random,
            generatedCookieValue: "c0ffee"))
        #expect(first.setCookie == "session=c0ffee; Path=/; Max-Age=60; HttpOnly")
        for _ in 0..<10 {
            let next = try #require(selector.choose(
                among: Self.backends, for: Self.request(cookie: "c0ffee"), excluding: [], at: Self.start,
                random: &random, generatedCookieValue: "unused"))
            #expect(next.backend == first.backend)
            #expect(next.setCookie == nil)
        }
        // Without a ttl Istio generates no cookie.
        let noTTL = BackendSelector(policy: .consistentHash(.httpCookie(.init(name: "session")), minimumRingSize: 64))
        let plain = noTTL.choose(among: Self.backends, for: Self.request(), excluding: [], at: Self.start, random: &random,
                                 generatedCookieValue: "x")
        #expect(plain?.setCookie == nil)
        let session = BackendSelector(policy: .consistentHash(
            .httpCookie(.init(name: "s", ttl: .zero)), minimumRingSize: 64))
        #expect(session.choose(among: Self.backends, for: Self.request(), excluding: [], at: Self.start, random: &random,
                               generatedCookieValue: "v")?.setCookie == "s=v; HttpOnly")
    }

    @Test func clientIPAffinityHoldsUntilItsTimeout() throws {
        var random = Self.random()
        let selector = BackendSelector(policy: .roundRobin, affinityTimeout: .seconds(10))
        let alice = RequestAttributes(clientAddress: IPv4Address(192, 168, 0, 5))
        let bob = RequestAttributes(clientAddress: IPv4Address(192, 168, 0, 6))
        func choose(_ request: RequestAttributes, at time: NIODeadline) throws -> ServiceBackend {
            let choice = try #require(selector.choose(
                among: Self.backends, for: request, excluding: [], at: time, random: &random, generatedCookieValue: ""))
            selector.connectionOpened(to: choice.backend, for: request, at: time)
            selector.connectionClosed(to: choice.backend)
            return choice.backend
        }
        let aliceBackend = try choose(alice, at: Self.start)
        let bobBackend = try choose(bob, at: Self.start)
        #expect(aliceBackend != bobBackend)
        // Each connection renews the binding: 9 s apart, four times, still the same backend.
        for step in 1...4 {
            #expect(try choose(alice, at: Self.start + .seconds(Int64(9 * step))) == aliceBackend)
        }
        // 11 s of silence: the binding is gone and round robin moves on.
        let later = Self.start + .seconds(36 + 11)
        #expect(try choose(alice, at: later) != aliceBackend)
        // A bound backend that left the service is not used.
        let rebound = try choose(bob, at: later)
        let remaining = Self.backends.filter { $0 != rebound }
        let moved = try #require(selector.choose(
            among: remaining, for: bob, excluding: [], at: later + .seconds(1), random: &random, generatedCookieValue: ""))
        #expect(moved.backend != rebound)
    }

    @Test func failingBackendsAreEjectedForAWhileButNeverAll() {
        var detector = OutlierDetector(configuration: .init(consecutiveFailures: 3, baseEjectionTime: .seconds(30), maxEjectionPercent: 100))
        let all = Self.backends
        let bad = all[1]
        let ejections = (0..<3).map { _ in detector.recordFailure(bad, outOf: all.count, at: Self.start) }
        #expect(ejections == [false, false, true])
        #expect(detector.usable(all, outOf: all, at: Self.start + .seconds(29)) == [all[0], all[2]])
        #expect(detector.usable(all, outOf: all, at: Self.start + .seconds(30)) == all)
        // Ejected again: twice as long.
        for _ in 0..<3 { detector.recordFailure(bad, outOf: all.count, at: Self.start + .seconds(31)) }
        #expect(detector.isEjected(bad, at: Self.start + .seconds(31 + 59)))
        #expect(!detector.isEjected(bad, at: Self.start + .seconds(31 + 60)))
        // A success clears the streak.
        detector.recordFailure(all[0], outOf: all.count, at: Self.start)
        detector.recordFailure(all[0], outOf: all.count, at: Self.start)
        detector.recordSuccess(all[0])
        let ejectedAfterSuccess = detector.recordFailure(all[0], outOf: all.count, at: Self.start)
        #expect(!ejectedAfterSuccess)
        // Everything ejected: everything is used again rather than nothing.
        for backend in all { for _ in 0..<3 { detector.recordFailure(backend, outOf: all.count, at: Self.start + .seconds(200)) } }
        #expect(detector.usable(all, outOf: all, at: Self.start + .seconds(201)) == all)
    }

    /// Istio's `maxEjectionPercent` (default 10 %, but always one host) caps how many backends
    /// are out at once; `minHealthPercent` balances over all while too few are healthy.
    @Test func ejectionIsCappedAndAPanicThresholdUsesEveryBackend() {
        let all = Self.backends
        var capped = OutlierDetector(configuration: .init(consecutiveFailures: 1))
        let first = capped.recordFailure(all[0], outOf: all.count, at: Self.start)
        let second = capped.recordFailure(all[1], outOf: all.count, at: Self.start)
        #expect(first)
        #expect(!second, "10 % of three is still one host")
        #expect(capped.usable(all, outOf: all, at: Self.start) == [all[1], all[2]])

        var panicking = OutlierDetector(configuration: .init(consecutiveFailures: 1, maxEjectionPercent: 100, minHealthPercent: 50))
        panicking.recordFailure(all[0], outOf: all.count, at: Self.start)
        #expect(panicking.usable(all, outOf: all, at: Self.start) == [all[1], all[2]], "two of three healthy: above 50 %")
        panicking.recordFailure(all[1], outOf: all.count, at: Self.start)
        #expect(panicking.usable(all, outOf: all, at: Self.start) == all, "one of three healthy: below 50 %, all are used")
    }

    @Test func aDestinationRuleTurnsOutlierDetectionOn() throws {
        #expect(BackendSelector(policy: .roundRobin).outlierDetection == nil, "off unless a rule asks, as in Istio")
        let rule = try #require(OutlierDetector.Configuration(DestinationRule.OutlierDetection(consecutiveErrors: 7, baseEjectionTime: .seconds(10))))
        #expect(rule.consecutiveFailures == 7)
        #expect(rule.maxEjectionPercent == 10)
        #expect(OutlierDetector.Configuration(DestinationRule.OutlierDetection(consecutiveErrors: 0)) == nil)
    }

    @Test func theSelectorSkipsBackendsAlreadyTried() {
        var random = Self.random()
        let selector = BackendSelector(policy: .roundRobin)
        let choice = selector.choose(
            among: Self.backends, for: RequestAttributes(), excluding: [Self.backends[0], Self.backends[1]],
            at: Self.start, random: &random, generatedCookieValue: "")
        #expect(choice?.backend == Self.backends[2])
        #expect(selector.choose(among: Self.backends, for: RequestAttributes(), excluding: Self.backends, at: Self.start,
                                random: &random, generatedCookieValue: "") == nil)
    }

    // MARK: Telling HTTP from other bytes

    @Test func httpIsToldFromOtherBytesByTheFirstFew() {
        func opens(_ bytes: [UInt8]) -> Bool? { HTTPRequestHeadPeek.opensWithRequestMethod(ByteBuffer(bytes: bytes)) }
        #expect(opens(Array("GE".utf8)) == nil)
        #expect(opens(Array("GET /a?user=7 HTTP/1.1\r\n".utf8)) == true)
        #expect(opens(Array("M-SEARCH * HTTP/1.1\r\n".utf8)) == true)
        // A TLS ClientHello, a binary protocol, the HTTP/2 preface and an endless token are not HTTP/1.
        #expect(opens([0x16, 0x03, 0x01, 0x00, 0xa5]) == false)
        #expect(opens([0x00, 0x01]) == false)
        #expect(opens(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)) == false)
        #expect(opens(Array(String(repeating: "A", count: 30).utf8)) == false)
        #expect(opens(Array("get / HTTP/1.1\r\n".utf8)) == false)
    }
}
