import Glibc
import NIOCore

/// Writes outbound `ByteBuffer`s (one IPv4 packet each) to a TUN device opened with offloads,
/// each write a `VirtioNetHeader` and a packet.
///
/// Packets wait for the flush that ends their burst; then the TCP segments among them that
/// continue each other are joined (`TCPCoalescing`) and written as one large packet for the
/// kernel to take whole, and the rest one `writev(2)` each with an all-zero header (a whole
/// packet, checksums done). NIO's pipe channel would instead gather pending writes into one
/// `writev`, which a TUN device takes as a single packet: this handler sits nearest the
/// channel's head so that never happens. At most `maximumPending` packets wait; one more writes
/// them out at once. A write the device refuses (its queue full: `EAGAIN`, or a packet it
/// rejects) drops those packets, as a full queue does, and fails their promises. It owns
/// `descriptor` (a duplicate of the one the channel reads) and closes it when it leaves the
/// pipeline. Confined to the device's loop.
final class TUNPacketWriter: ChannelOutboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer

    /// Packets held for one burst at most: 256 segments are about four joined writes.
    static let maximumPending = 256

    private var descriptor: CInt
    /// Whether the device takes large TCP packets (`TUNDevice.segmentationOffload`).
    private let joinSegments: Bool
    private var pending: [ByteBuffer] = []
    private var promises: [EventLoopPromise<Void>?] = []
    private static let emptyHeader = [UInt8](repeating: 0, count: VirtioNetHeader.length)
    /// Packets the device refused, since the interface opened.
    private(set) var droppedPackets: UInt64 = 0
    /// Writes that carried several TCP segments joined, since the interface opened.
    private(set) var joinedWrites: UInt64 = 0

    init(descriptor: CInt, joinSegments: Bool) {
        self.descriptor = descriptor
        self.joinSegments = joinSegments
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard descriptor >= 0 else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        pending.append(unwrapOutboundIn(data))
        promises.append(promise)
        if pending.count >= Self.maximumPending { writePending(allocator: context.channel.allocator) }
    }

    func flush(context: ChannelHandlerContext) {
        writePending(allocator: context.channel.allocator)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        for promise in promises { promise?.fail(ChannelError.ioOnClosedChannel) }
        pending.removeAll()
        promises.removeAll()
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }

    private func writePending(allocator: ByteBufferAllocator) {
        guard !pending.isEmpty else { return }
        if joinSegments {
            for group in TCPCoalescing.groups(of: pending) {
                if group.members.count == 1 {
                    finish([group.members[0]], written: writePacket(pending[group.members[0]]))
                } else {
                    finish(group.members, written: writeJoined(group, allocator: allocator))
                }
            }
        } else {
            for index in pending.indices { finish([index], written: writePacket(pending[index])) }
        }
        pending.removeAll(keepingCapacity: true)
        promises.removeAll(keepingCapacity: true)
    }

    private func finish(_ members: [Int], written: Int32) {
        if written == 0 {
            for index in members { promises[index]?.succeed() }
        } else {
            droppedPackets += UInt64(members.count)
            for index in members { promises[index]?.fail(IOError(errnoCode: written, reason: "write to TUN device")) }
        }
    }

    /// One packet, behind an empty header, without copying it: 0 or the error.
    private func writePacket(_ packet: ByteBuffer) -> Int32 {
        packet.withUnsafeReadableBytes { bytes in
            withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { vectors in
                Self.emptyHeader.withUnsafeBytes { header in
                    vectors[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: header.baseAddress), iov_len: header.count)
                    vectors[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
                    return retrying(expecting: header.count + bytes.count) { Glibc.writev(descriptor, vectors.baseAddress, 2) }
                }
            }
        }
    }

    /// The group's segments as one packet: its header, the joined headers, every payload.
    private func writeJoined(_ group: TCPCoalescing.Group, allocator: ByteBufferAllocator) -> Int32 {
        let (header, headers) = TCPCoalescing.headers(of: group, in: pending, allocator: allocator)
        var joined = allocator.buffer(capacity: VirtioNetHeader.length + group.members.reduce(headers.readableBytes) { total, index in
            total + pending[index].readableBytes - headers.readableBytes
        })
        header.write(to: &joined)
        joined.writeImmutableBuffer(headers)
        joinedWrites += 1
        for index in group.members {
            let packet = pending[index]
            joined.writeImmutableBuffer(packet.getSlice(at: packet.readerIndex + headers.readableBytes, length: packet.readableBytes - headers.readableBytes)!)
        }
        return joined.withUnsafeReadableBytes { bytes in
            retrying(expecting: bytes.count) { Glibc.write(descriptor, bytes.baseAddress, bytes.count) }
        }
    }

    /// Runs `write` until it is not interrupted: 0 when it wrote `expecting` bytes, else the error.
    private func retrying(expecting: Int, _ write: () -> Int) -> Int32 {
        var written: Int
        repeat { written = write() } while written < 0 && errno == EINTR
        if written == expecting { return 0 }
        return written < 0 ? errno : EMSGSIZE
    }
}
