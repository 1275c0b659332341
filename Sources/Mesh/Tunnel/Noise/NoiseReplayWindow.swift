/// A sliding-window replay filter for explicit-nonce transport frames (Noise spec §11.4; the
/// same idea as WireGuard's and IPsec's, RFC 6479).
///
/// It remembers the highest accepted counter and, as a bitmap, which of the `size` counters
/// up to it were accepted. A counter above the highest is new; one inside the window is new
/// unless its bit is set; one below the window is refused as too old, because it can no longer
/// be told from a replay.
///
/// `check` and `accept` are separate so that a frame is recorded only after its tag verified:
/// otherwise a forged frame could mark a counter as seen and block the genuine one.
public struct NoiseReplayWindow: Sendable {
    public let size: Int
    public private(set) var highest: UInt64?
    private var bits: [UInt64]

    public init(size: Int = 2048) throws {
        guard size > 0, size % 64 == 0 else {
            throw NoiseError.wrongState("the replay window must be a positive multiple of 64 frames, got \(size)")
        }
        self.size = size
        self.bits = [UInt64](repeating: 0, count: size / 64)
    }

    /// Throws `replayed` or `tooOld` when `counter` must be dropped.
    public func check(_ counter: UInt64) throws {
        guard let highest, counter <= highest else { return }
        guard highest - counter < UInt64(size) else {
            throw NoiseError.tooOld(counter: counter, highest: highest)
        }
        if isSet(counter) { throw NoiseError.replayed(counter: counter) }
    }

    /// Records `counter` as received; call only after `check` passed and the frame authenticated.
    public mutating func accept(_ counter: UInt64) {
        if let highest {
            if counter > highest {
                let advance = counter - highest
                if advance >= UInt64(size) {
                    for index in bits.indices { bits[index] = 0 }
                } else {
                    // Bits of the counters the window slides over belong to counters now out of
                    // reach of the new highest; clear them so they read as "not seen".
                    var cleared = highest + 1
                    while cleared <= counter {
                        clear(cleared)
                        cleared += 1
                    }
                }
                self.highest = counter
            }
        } else {
            self.highest = counter
        }
        set(counter)
    }

    private func position(_ counter: UInt64) -> (word: Int, mask: UInt64) {
        let slot = Int(counter % UInt64(size))
        return (slot / 64, 1 << UInt64(slot % 64))
    }

    private func isSet(_ counter: UInt64) -> Bool {
        let (word, mask) = position(counter)
        return bits[word] & mask != 0
    }

    private mutating func set(_ counter: UInt64) {
        let (word, mask) = position(counter)
        bits[word] |= mask
    }

    private mutating func clear(_ counter: UInt64) {
        let (word, mask) = position(counter)
        bits[word] &= ~mask
    }
}
