import Glibc
import NIOCore

/// Writes each outbound `ByteBuffer` to a TUN device as one packet, with one `write(2)`.
///
/// NIO's pipe channel would gather writes pending together into one `writev`, which a TUN
/// device takes as a single packet; this handler sits nearest the channel's head and writes
/// every packet as it comes, so nothing is ever gathered. A write the device refuses (its queue
/// full: `EAGAIN`, or a packet it rejects) drops that packet, as a full queue does, and fails
/// its promise. It owns `descriptor` (a duplicate of the one the channel reads) and closes it
/// when it leaves the pipeline.
final class TUNPacketWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer

    private var descriptor: CInt
    /// Packets the device refused, since the interface opened.
    private(set) var droppedPackets: UInt64 = 0

    init(descriptor: CInt) {
        self.descriptor = descriptor
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let packet = unwrapOutboundIn(data)
        guard descriptor >= 0 else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        var written: Int
        repeat {
            written = packet.withUnsafeReadableBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        } while written < 0 && errno == EINTR
        if written == packet.readableBytes {
            promise?.succeed()
        } else {
            droppedPackets += 1
            promise?.fail(IOError(errnoCode: written < 0 ? errno : EMSGSIZE, reason: "write to TUN device"))
        }
    }

    func flush(context: ChannelHandlerContext) {
        // Every packet was written as it came.
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }
}
