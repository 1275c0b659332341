/// A ring of hash points, several per backend, for consistent hashing: a key goes to the
/// first point at or after its hash.
///
/// Each backend gets `minimumRingSize` points of its own (fewer only when the total would pass
/// `maximumPoints`), so a backend's points do not depend on which others are present: removing
/// one backend moves only the keys that were on its points. (Envoy divides the ring size among
/// the backends instead, which moves some keys between the survivors too.)
public struct HashRing: Sendable {
    /// The backends the ring was built from, sorted.
    public let backends: [ServiceBackend]
    /// (point, index into `backends`), sorted by point.
    private let points: [(hash: UInt64, backend: Int)]

    /// About the most points a ring holds, whatever `minimumRingSize` a DestinationRule asks
    /// for (Istio's own cap is 8M; a mesh agent on an edge device should not spend that memory).
    public static let maximumPoints = 1 << 16

    public init(backends: [ServiceBackend], minimumRingSize: Int) {
        self.backends = backends
        guard !backends.isEmpty else {
            points = []
            return
        }
        let perBackend = max(1, min(minimumRingSize, Self.maximumPoints / backends.count))
        var points: [(hash: UInt64, backend: Int)] = []
        points.reserveCapacity(perBackend * backends.count)
        for (index, backend) in backends.enumerated() {
            let name = backend.description
            for replica in 0..<perBackend {
                points.append((StableHash.hash("\(name)#\(replica)"), index))
            }
        }
        // A tie on the hash is broken by backend order, so the ring is a pure function of its input.
        self.points = points.sorted { ($0.hash, $0.backend) < ($1.hash, $1.backend) }
    }

    public var pointCount: Int { points.count }

    /// The first backend in ring order from where `hash` lands that `accepts`: the owner of the
    /// key if it accepts, else where the key spills when the owner is full. Points are visited as
    /// they come, a backend possibly more than once (asking again gives the same answer), so a
    /// choice allocates nothing; nil when no backend accepts.
    public func firstBackend(from hash: UInt64, where accepts: (ServiceBackend) -> Bool = { _ in true }) -> ServiceBackend? {
        guard !points.isEmpty else { return nil }
        let start = firstPoint(atOrAfter: hash)
        for step in 0..<points.count {
            let backend = backends[points[(start + step) % points.count].backend]
            if accepts(backend) { return backend }
        }
        return nil
    }

    private func firstPoint(atOrAfter hash: UInt64) -> Int {
        var low = 0, high = points.count
        while low < high {
            let middle = (low + high) / 2
            if points[middle].hash < hash { low = middle + 1 } else { high = middle }
        }
        return low == points.count ? 0 : low
    }
}
