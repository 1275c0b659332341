/// A 64-bit hash that is the same in every process and on every machine (Swift's `Hasher` is
/// seeded per process), so a consistent-hash key maps to the same backend on every agent and
/// in every simulation run.
///
/// FNV-1a over the bytes, then a final avalanche step (the one from SplitMix64) so that keys
/// differing in one late byte still land far apart on the ring.
public enum StableHash {
    public static func hash(_ text: some StringProtocol) -> UInt64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return mix(value)
    }

    public static func mix(_ input: UInt64) -> UInt64 {
        var z = input &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
