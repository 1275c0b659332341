import Mesh

/// The simulator's random source: xoshiro256** seeded through SplitMix64.
///
/// Every random choice in a run comes from a generator derived from the run's seed and a
/// stable label ("link:edge-1/eth0:up", "host:edge-1"), so adding a host or a link does not
/// shift the random stream of the others, and a failing seed replays exactly.
public final class SimRandom: EntropySource, @unchecked Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var splitMix = seed
        func nextSplitMix() -> UInt64 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (nextSplitMix(), nextSplitMix(), nextSplitMix(), nextSplitMix())
    }

    /// A generator for `label`, independent of every other label's.
    public convenience init(seed: UInt64, label: String) {
        self.init(seed: seed ^ SimRandom.stableHash(label))
    }

    @inline(__always)
    public func nextUInt64() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotateLeft(state.3, 45)
        return result
    }

    /// A uniform double in [0, 1).
    @inline(__always)
    public func nextUnitInterval() -> Double {
        Double(nextUInt64() >> 11) * 0x1.0p-53
    }

    /// True with probability `p`; draws nothing when `p` is 0 or 1, so options that are off do not
    /// consume randomness.
    @inline(__always)
    public func chance(_ p: Double) -> Bool {
        if p <= 0 { return false }
        if p >= 1 { return true }
        return nextUnitInterval() < p
    }

    /// A uniform integer in `0..<bound`.
    public func nextInt(below bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        var generator = MeshRandom(source: self)
        return UInt64.random(in: 0..<bound, using: &generator)
    }

    public var generator: MeshRandom { MeshRandom(source: self) }

    /// FNV-1a: stable across processes and builds, unlike `Hasher`.
    static func stableHash(_ label: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in label.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    @inline(__always)
    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }
}
