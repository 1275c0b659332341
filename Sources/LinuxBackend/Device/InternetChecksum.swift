/// RFC 1071 ones' complement sums over raw bytes, eight at a time.
///
/// The sum does not depend on byte order (RFC 1071 §2(B)): words are added in the machine's
/// order and the folded result swapped once at the end, so a 64 KiB segment costs a few
/// thousand additions rather than a loop per byte pair.
enum InternetChecksum {
    /// The ones' complement sum of `bytes` read as big-endian 16-bit words (an odd last byte
    /// padded with zero), plus `initial` (a sum of big-endian words too), folded to 16 bits and
    /// not inverted.
    static func sum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt16 {
        var accumulator: UInt64 = 0
        var offset = 0
        let count = bytes.count
        while offset + 8 <= count {
            let (added, carried) = accumulator.addingReportingOverflow(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            accumulator = added &+ (carried ? 1 : 0)
            offset += 8
        }
        // Under eight bytes remain: each added as a 16-bit word in the machine's order, which
        // cannot overflow the 64-bit accumulator twice in a row.
        var tail: UInt64 = 0
        while offset + 2 <= count {
            tail += UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            offset += 2
        }
        if offset < count {
            // The last byte is the high half of a big-endian word: in the machine's (little-endian) order, the low one.
            tail += UInt64(UInt16(bigEndian: UInt16(bytes[offset]) << 8))
        }
        let (added, carried) = accumulator.addingReportingOverflow(tail)
        accumulator = added &+ (carried ? 1 : 0)
        let machineOrder = fold(accumulator)
        return fold(UInt64(UInt16(bigEndian: machineOrder)) + UInt64(initial))
    }

    /// The checksum field's value for `bytes` (whose own checksum field is zero) and a pseudo-header sum.
    static func checksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt16 {
        ~sum(bytes, initial: initial)
    }

    /// The sum of the IPv4 pseudo-header (RFC 793 §3.1, RFC 768) for a transport segment of `length` bytes.
    static func pseudoHeaderSum(source: UInt32, destination: UInt32, transport: UInt8, length: Int) -> UInt32 {
        (source >> 16) + (source & 0xFFFF) + (destination >> 16) + (destination & 0xFFFF) + UInt32(transport) + UInt32(length)
    }

    private static func fold(_ value: UInt64) -> UInt16 {
        var value = (value & 0xFFFF_FFFF) + (value >> 32)
        value = (value & 0xFFFF_FFFF) + (value >> 32)
        value = (value & 0xFFFF) + (value >> 16)
        value = (value & 0xFFFF) + (value >> 16)
        return UInt16(value)
    }
}
