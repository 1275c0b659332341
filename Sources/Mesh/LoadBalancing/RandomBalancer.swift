/// A candidate drawn uniformly from the host's generator.
public final class RandomBalancer: BalancingAlgorithm {
    public init() {}

    public func pick(
        from candidates: [ServiceBackend], for request: RequestAttributes, load: BackendLoad,
        random: inout MeshRandom
    ) -> ServiceBackend {
        candidates[Int.random(in: 0..<candidates.count, using: &random)]
    }
}
