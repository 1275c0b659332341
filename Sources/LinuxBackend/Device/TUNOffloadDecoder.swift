import NIOCore

/// Turns what a TUN device with offloads reads (a `VirtioNetHeader`, then a packet) into plain
/// IPv4 packets: a large TCP packet is cut into its segments (`TCPSegmentation`), a partial
/// checksum is completed, and anything else passes as it came. Sits first in the device's
/// pipeline, so the mesh above it only ever sees packets that fit the MTU with valid checksums.
///
/// One read then carries up to 64 KiB of a TCP stream instead of one MTU: a system call and a
/// trip through the node's forwarding path per 64 KiB rather than per 1,400 bytes. What cannot
/// be understood (a short header, a segmentation type other than TCP over IPv4, offsets outside
/// the packet) is dropped and counted, never passed on half-made. Confined to the device's loop.
final class TUNOffloadDecoder: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Reads dropped as malformed since the device opened.
    private(set) var droppedReads: UInt64 = 0
    /// Large TCP packets cut into segments since the device opened.
    private(set) var segmentedReads: UInt64 = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var packet = unwrapInboundIn(data)
        guard let header = VirtioNetHeader(reading: &packet) else {
            droppedReads += 1
            return
        }
        switch header.segmentationType & ~VirtioNetHeader.SegmentationType.explicitCongestion {
        case VirtioNetHeader.SegmentationType.none:
            if header.flags & VirtioNetHeader.needsChecksum != 0 {
                // Into a buffer of its own: the read buffer is NIO's to reuse, and writing into
                // it in place would copy all 64 KiB of it for every small packet.
                var completed = context.channel.allocator.buffer(capacity: packet.readableBytes)
                completed.writeBuffer(&packet)
                guard TCPSegmentation.completeChecksum(of: &completed, start: Int(header.checksumStart), offset: Int(header.checksumOffset)) else {
                    droppedReads += 1
                    return
                }
                packet = completed
            }
            context.fireChannelRead(wrapInboundOut(packet))
        case VirtioNetHeader.SegmentationType.tcpIPv4:
            let segmented = TCPSegmentation.forEachSegment(
                of: packet, segmentSize: Int(header.segmentSize), allocator: context.channel.allocator
            ) { segment in
                context.fireChannelRead(wrapInboundOut(segment))
            }
            if segmented { segmentedReads += 1 } else { droppedReads += 1 }
        default:
            droppedReads += 1
        }
    }
}
