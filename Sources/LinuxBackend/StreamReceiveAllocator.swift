import NIOCore

/// Receive-buffer sizes for stream sockets, adapting as NIO's `AdaptiveRecvByteBufferAllocator`
/// does: a read that fills its buffer doubles the next one, up to `maximum`; two reads in a row
/// that fill at most half of it halve it, down to `minimum`. Sizes are powers of two.
///
/// Why not NIO's own: a channel keeps its allocator as `any RecvByteBufferAllocator`, and NIO's
/// (33 bytes) does not fit an existential's inline storage, so every channel carries a heap box
/// for it, tens of bytes per idle connection. This one keeps sizes as exponents in 4 bytes.
struct StreamReceiveAllocator: RecvByteBufferAllocator {
    private let minimumExponent: UInt8
    private let maximumExponent: UInt8
    private var exponent: UInt8
    /// The last read filled at most half the buffer; one more such read halves it.
    private var shrinkAfterNextSmallRead = false

    /// `minimum` and `initial` round down to a power of two, `maximum` up, as in NIO.
    init(minimum: Int, initial: Int, maximum: Int) {
        precondition(0 < minimum && minimum <= initial && initial <= maximum && maximum <= 1 << 30,
                     "receive sizes must satisfy 0 < minimum <= initial <= maximum <= 1 GiB")
        minimumExponent = Self.exponentRoundingDown(minimum)
        exponent = Self.exponentRoundingDown(initial)
        maximumExponent = Self.exponentRoundingDown(maximum) + (maximum.nonzeroBitCount == 1 ? 0 : 1)
    }

    var nextSize: Int { 1 << Int(exponent) }

    func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        allocator.buffer(capacity: nextSize)
    }

    func nextBufferSize() -> Int? {
        nextSize
    }

    mutating func record(actualReadBytes: Int) -> Bool {
        if actualReadBytes >= nextSize, exponent < maximumExponent {
            exponent += 1
            shrinkAfterNextSmallRead = false
            return true
        }
        if actualReadBytes <= nextSize / 2, exponent > minimumExponent {
            if shrinkAfterNextSmallRead { exponent -= 1 }
            shrinkAfterNextSmallRead.toggle()
            return false
        }
        shrinkAfterNextSmallRead = false
        return false
    }

    private static func exponentRoundingDown(_ size: Int) -> UInt8 {
        UInt8(Int.bitWidth - 1 - size.leadingZeroBitCount)
    }
}
