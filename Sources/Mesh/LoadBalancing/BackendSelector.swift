import NIOCore

/// Everything that decides where one service port's new connections go: session affinity,
/// then the DestinationRule's policy, over the backends outlier detection (where the rule asks
/// for it) has not ejected, with
/// the load each backend carries.
///
/// One per proxied service port, kept across endpoint changes so round-robin turns, affinity
/// and ejections survive a scale-up. Confined to the host's event loop.
public final class BackendSelector {
    public let policy: LoadBalancingPolicy
    public private(set) var affinity: ClientIPAffinity?
    /// Nil when no DestinationRule asks for outlier detection: then nothing is ejected.
    public private(set) var outliers: OutlierDetector?
    public private(set) var load = BackendLoad()
    private let balancer: any BalancingAlgorithm
    /// How many backends the service had at the last choice, for the ejection cap.
    private var backendCount = 0

    public init(
        policy: LoadBalancingPolicy, affinityTimeout: TimeAmount? = nil,
        outlierDetection: OutlierDetector.Configuration? = nil
    ) {
        self.policy = policy
        self.affinity = affinityTimeout.map(ClientIPAffinity.init(timeout:))
        self.outliers = outlierDetection.map(OutlierDetector.init(configuration:))
        self.balancer = policy.makeBalancer()
    }

    public var outlierDetection: OutlierDetector.Configuration? { outliers?.configuration }

    /// The backend for the next attempt of a connection, or nil when every candidate has been
    /// `tried` already. `cookieValue` is the value to generate when the policy hashes on a cookie
    /// the request lacks (the caller draws it once per connection, so retries agree).
    public func choose(
        among backends: [ServiceBackend], for request: RequestAttributes, excluding tried: [ServiceBackend],
        at now: NIODeadline, random: inout MeshRandom, generatedCookieValue cookieValue: @autoclosure () -> String
    ) -> BackendChoice? {
        let untried = tried.isEmpty ? backends : backends.filter { !tried.contains($0) }
        guard !untried.isEmpty else { return nil }
        backendCount = backends.count
        let candidates = outliers?.usable(untried, outOf: backends, at: now) ?? untried
        if let affinity, let client = request.clientAddress, let bound = affinity.backend(for: client, at: now),
            candidates.contains(bound)
        {
            return BackendChoice(backend: bound)
        }
        if case .consistentHash(.httpCookie(let cookie), _) = policy, let ttl = cookie.ttl,
            let head = request.httpRequest, head.cookie(named: cookie.name) == nil,
            let hashBalancer = balancer as? ConsistentHashBalancer
        {
            // Istio generates the cookie only when a ttl is set; the connection is hashed on the
            // value it will carry from now on.
            let value = cookieValue()
            let backend = hashBalancer.pick(from: candidates, hash: StableHash.hash(value), load: load)
            return BackendChoice(backend: backend, setCookie: Self.setCookieHeader(cookie, value: value, ttl: ttl))
        }
        return BackendChoice(backend: balancer.pick(from: candidates, for: request, load: load, random: &random))
    }

    /// A connection to `backend` was established at `now` and is now in progress. Under a
    /// policy that weighs load, `connectionClosed` must follow when it ends.
    public func connectionOpened(to backend: ServiceBackend, for request: RequestAttributes, at now: NIODeadline) {
        outliers?.recordSuccess(backend)
        if policy.weighsLoad { load.increment(backend) }
        if let client = request.clientAddress { affinity?.record(backend, for: client, at: now) }
    }

    /// A connection opened with `connectionOpened` ended.
    public func connectionClosed(to backend: ServiceBackend) {
        load.decrement(backend)
    }

    /// A dial to `backend` failed at `now`; returns true when that ejected it.
    @discardableResult
    public func dialFailed(to backend: ServiceBackend, at now: NIODeadline) -> Bool {
        outliers?.recordFailure(backend, outOf: backendCount, at: now) ?? false
    }

    /// Drops outlier records of backends the service no longer has.
    public func retain(only backends: [ServiceBackend]) {
        outliers?.retain(only: Set(backends))
    }

    /// `name=value; Path=p; Max-Age=n; HttpOnly`, as Envoy writes a generated cookie; a zero
    /// ttl makes a session cookie (no Max-Age).
    static func setCookieHeader(_ cookie: DestinationRule.HTTPCookie, value: String, ttl: TimeAmount) -> String {
        var header = "\(cookie.name)=\(value)"
        if let path = cookie.path, !path.isEmpty { header += "; Path=\(path)" }
        let seconds = ttl.nanoseconds / 1_000_000_000
        if ttl.nanoseconds > 0 { header += "; Max-Age=\(max(seconds, 1))" }
        return header + "; HttpOnly"
    }
}
