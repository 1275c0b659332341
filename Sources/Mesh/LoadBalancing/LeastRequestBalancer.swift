/// The candidate with the fewest connections in progress; among equals, one at random (so
/// idle backends share the load rather than the first taking it all).
///
/// A full scan rather than Envoy's power of two choices: a service has tens of backends at
/// most, and the scan always finds the least loaded one.
public final class LeastRequestBalancer: BalancingAlgorithm {
    public init() {}

    public func pick(
        from candidates: [ServiceBackend], for request: RequestAttributes, load: BackendLoad,
        random: inout MeshRandom
    ) -> ServiceBackend {
        var least: [ServiceBackend] = []
        var leastLoad = Int.max
        for candidate in candidates {
            let current = load.load(of: candidate)
            if current < leastLoad {
                leastLoad = current
                least = [candidate]
            } else if current == leastLoad {
                least.append(candidate)
            }
        }
        return least[Int.random(in: 0..<least.count, using: &random)]
    }
}
