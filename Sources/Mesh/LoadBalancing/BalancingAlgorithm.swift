/// One load-balancing algorithm: picks the backend for a new connection.
///
/// Balancers are confined to the host's event loop and draw every random number from the
/// generator handed in (the host's), so a simulated run picks the same backends every time.
public protocol BalancingAlgorithm: AnyObject {
    /// Picks one of `candidates` (never empty, sorted) for a connection described by `request`.
    func pick(
        from candidates: [ServiceBackend], for request: RequestAttributes, load: BackendLoad,
        random: inout MeshRandom
    ) -> ServiceBackend
}

extension LoadBalancingPolicy {
    /// A fresh balancer running this policy.
    public func makeBalancer() -> any BalancingAlgorithm {
        switch self {
        case .roundRobin: RoundRobinBalancer()
        case .random: RandomBalancer()
        case .leastRequest: LeastRequestBalancer()
        case .consistentHash(let key, let ringSize): ConsistentHashBalancer(key: key, minimumRingSize: ringSize)
        }
    }
}
