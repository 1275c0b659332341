/// Consistent hashing with bounded load (Mirrokni, Thorup and Zadimoghaddam): a key goes to
/// the backend that owns its point on the ring unless that backend already carries more than
/// `loadFactor` times the mean load, in which case it goes on to the next one on the ring.
/// Keys stay put while load is even, and one hot key cannot bury one backend.
///
/// A connection without the key (no such header, cookie or parameter) goes to a random
/// backend, as in Envoy.
public final class ConsistentHashBalancer: BalancingAlgorithm {
    public let key: DestinationRule.HashKey
    public let minimumRingSize: Int
    /// How far above the mean a backend may go before keys spill (Envoy's default is 1.25).
    public let loadFactor: Double
    private var ring: HashRing?

    public init(key: DestinationRule.HashKey, minimumRingSize: Int, loadFactor: Double = 1.25) {
        self.key = key
        self.minimumRingSize = minimumRingSize
        self.loadFactor = max(loadFactor, 1)
    }

    public func pick(
        from candidates: [ServiceBackend], for request: RequestAttributes, load: BackendLoad,
        random: inout MeshRandom
    ) -> ServiceBackend {
        guard let text = request.hashText(for: key) else {
            return candidates[Int.random(in: 0..<candidates.count, using: &random)]
        }
        return pick(from: candidates, hash: StableHash.hash(text), load: load)
    }

    /// The backend for a key whose hash is `hash`.
    public func pick(from candidates: [ServiceBackend], hash: UInt64, load: BackendLoad) -> ServiceBackend {
        let ring = currentRing(for: candidates)
        let loadOnCandidates = candidates.reduce(0) { $0 + load.load(of: $1) }
        let capacity = Int((loadFactor * Double(loadOnCandidates + 1) / Double(candidates.count)).rounded(.up))
        // The loads sum to less than capacity × count, so some backend is below capacity.
        return ring.firstBackend(from: hash) { load.load(of: $0) < capacity } 
            ?? ring.firstBackend(from: hash) ?? candidates[0]
    }

    /// The ring for this candidate list, rebuilt only when the list changed.
    private func currentRing(for candidates: [ServiceBackend]) -> HashRing {
        if let ring, ring.backends == candidates { return ring }
        let built = HashRing(backends: candidates, minimumRingSize: minimumRingSize)
        ring = built
        return built
    }
}
