/// Each candidate in turn. The turn survives changes of the candidate list (a backend ejected
/// or added), so a change does not send a burst to the first backend.
public final class RoundRobinBalancer: BalancingAlgorithm {
    private var turn = 0

    public init() {}

    public func pick(
        from candidates: [ServiceBackend], for request: RequestAttributes, load: BackendLoad,
        random: inout MeshRandom
    ) -> ServiceBackend {
        let chosen = candidates[turn % candidates.count]
        turn = turn == Int.max ? 0 : turn + 1
        return chosen
    }
}
