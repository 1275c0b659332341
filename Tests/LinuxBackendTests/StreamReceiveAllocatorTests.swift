@testable import LinuxBackend
import NIOCore
import Testing

/// The receive sizes of the agent's stream sockets: they must adapt as NIO's adaptive allocator
/// does (the proxy's bulk speed depends on it) while costing an idle connection no heap box.
@Suite("StreamReceiveAllocator")
struct StreamReceiveAllocatorTests {
    @Test func fitsInAnExistentialWithoutABox() {
        // An existential holds up to three words inline; larger values go to the heap, once per
        // channel. NIO's own adaptive allocator does not fit.
        #expect(MemoryLayout<StreamReceiveAllocator>.size <= 3 * MemoryLayout<Int>.size)
        #expect(MemoryLayout<AdaptiveRecvByteBufferAllocator>.size > 3 * MemoryLayout<Int>.size)
    }

    @Test func growsWhileReadsFillTheBufferUpToTheMaximum() {
        var sizes = StreamReceiveAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024)
        var seen = [sizes.nextSize]
        for _ in 0..<10 {
            _ = sizes.record(actualReadBytes: sizes.nextSize)
            seen.append(sizes.nextSize)
        }
        #expect(seen == [2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 262144, 262144, 262144])
    }

    @Test func shrinksOnlyAfterTwoSmallReadsInARowAndNotBelowTheMinimum() {
        var sizes = StreamReceiveAllocator(minimum: 1024, initial: 4096, maximum: 65536)
        _ = sizes.record(actualReadBytes: 100)
        #expect(sizes.nextSize == 4096)
        _ = sizes.record(actualReadBytes: 3000)  // more than half: the streak of small reads ends
        _ = sizes.record(actualReadBytes: 100)
        #expect(sizes.nextSize == 4096)
        _ = sizes.record(actualReadBytes: 100)
        #expect(sizes.nextSize == 2048)
        for _ in 0..<10 { _ = sizes.record(actualReadBytes: 1) }
        #expect(sizes.nextSize == 1024)
    }

    @Test func roundsSizesToPowersOfTwoAsNIODoes() {
        let sizes = StreamReceiveAllocator(minimum: 100, initial: 3000, maximum: 200_000)
        let nio = AdaptiveRecvByteBufferAllocator(minimum: 100, initial: 3000, maximum: 200_000)
        #expect(sizes.nextSize == nio.initial)
        var grown = sizes
        for _ in 0..<20 { _ = grown.record(actualReadBytes: 1 << 30) }
        #expect(grown.nextSize == nio.maximum)
    }

    @Test func followsNIOsAdaptiveAllocatorReadForRead() {
        var ours = StreamReceiveAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024)
        var nio = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024)
        // A deterministic mix of full, half-full and tiny reads.
        var state: UInt32 = 12345
        for _ in 0..<2000 {
            state = state &* 1_103_515_245 &+ 12345
            let size = ours.nextSize
            let read = [size, size, size / 2, size / 2 + 1, 10, size * 3 / 4][Int(state >> 16) % 6]
            #expect(ours.record(actualReadBytes: read) == nio.record(actualReadBytes: read))
            #expect(ours.nextSize == nio.nextBufferSize())
        }
    }
}
