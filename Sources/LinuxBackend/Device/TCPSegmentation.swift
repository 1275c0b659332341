import NIOCore

/// Cuts a large IPv4 TCP packet the kernel handed over with segmentation offload into the
/// segments it stands for, as a NIC's TSO engine would: each carries the same headers with
/// its own total length, IP identification (incremented per segment), sequence number and
/// checksums; FIN and PSH stay on the last segment only, CWR on the first only.
///
/// The input comes from the node's own kernel, but is still checked: anything that is not an
/// IPv4 TCP packet whose headers fit yields no segments at all.
enum TCPSegmentation {
    private static let finish: UInt8 = 0x01
    private static let push: UInt8 = 0x08
    private static let congestionWindowReduced: UInt8 = 0x80

    /// Calls `body` with each segment of `packet` (an IPv4 TCP packet at its reader index) of at
    /// most `segmentSize` payload bytes, in order; false, having called it for none, when the
    /// packet is malformed.
    static func forEachSegment(
        of packet: ByteBuffer, segmentSize: Int, allocator: ByteBufferAllocator, _ body: (ByteBuffer) -> Void
    ) -> Bool {
        let base = packet.readerIndex
        guard segmentSize > 0, let first: UInt8 = packet.getInteger(at: base), first >> 4 == 4,
            let transport: UInt8 = packet.getInteger(at: base + 9), transport == 6
        else { return false }
        let ipHeaderLength = Int(first & 0x0F) * 4
        guard ipHeaderLength >= 20, let offsetByte: UInt8 = packet.getInteger(at: base + ipHeaderLength + 12) else { return false }
        let tcpHeaderLength = Int(offsetByte >> 4) * 4
        let headersLength = ipHeaderLength + tcpHeaderLength
        guard tcpHeaderLength >= 20, headersLength <= packet.readableBytes,
            let identification: UInt16 = packet.getInteger(at: base + 4),
            let sequence: UInt32 = packet.getInteger(at: base + ipHeaderLength + 4),
            let flags: UInt8 = packet.getInteger(at: base + ipHeaderLength + 13),
            let source: UInt32 = packet.getInteger(at: base + 12), let destination: UInt32 = packet.getInteger(at: base + 16)
        else { return false }
        let payloadLength = packet.readableBytes - headersLength
        let count = max(1, (payloadLength + segmentSize - 1) / segmentSize)
        for index in 0..<count {
            let payloadStart = index * segmentSize
            let length = min(segmentSize, payloadLength - payloadStart)
            var segment = allocator.buffer(capacity: headersLength + length)
            segment.writeImmutableBuffer(packet.getSlice(at: base, length: headersLength)!)
            segment.writeImmutableBuffer(packet.getSlice(at: base + headersLength + payloadStart, length: length)!)
            var segmentFlags = flags
            if index < count - 1 { segmentFlags &= ~(finish | push) }
            if index > 0 { segmentFlags &= ~congestionWindowReduced }
            segment.setInteger(UInt16(headersLength + length), at: 2)
            segment.setInteger(identification &+ UInt16(truncatingIfNeeded: index), at: 4)
            segment.setInteger(UInt16(0), at: 10)
            segment.setInteger(sequence &+ UInt32(truncatingIfNeeded: payloadStart), at: ipHeaderLength + 4)
            segment.setInteger(segmentFlags, at: ipHeaderLength + 13)
            segment.setInteger(UInt16(0), at: ipHeaderLength + 16)
            let tcpLength = tcpHeaderLength + length
            segment.withUnsafeMutableReadableBytes { bytes in
                let ipChecksum = InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<ipHeaderLength]))
                bytes.storeBytes(of: ipChecksum.bigEndian, toByteOffset: 10, as: UInt16.self)
                let pseudo = InternetChecksum.pseudoHeaderSum(source: source, destination: destination, transport: transport, length: tcpLength)
                let tcpChecksum = InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: bytes[ipHeaderLength...]), initial: pseudo)
                bytes.storeBytes(of: tcpChecksum.bigEndian, toByteOffset: ipHeaderLength + 16, as: UInt16.self)
            }
            body(segment)
        }
        return true
    }

    /// Completes a checksum the kernel left partial (`VirtioNetHeader.needsChecksum`): the field
    /// `offset` bytes after `start` holds the pseudo-header's sum; the sum over every byte from
    /// `start` on, inverted, replaces it. False when the two point outside the packet.
    static func completeChecksum(of packet: inout ByteBuffer, start: Int, offset: Int) -> Bool {
        let field = start + offset
        guard start >= 0, field + 2 <= packet.readableBytes else { return false }
        let isUDP = packet.getInteger(at: packet.readerIndex + 9, as: UInt8.self) == 17
        packet.withUnsafeMutableReadableBytes { bytes in
            var checksum = ~InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: bytes[start...]))
            // UDP's zero means "no checksum"; a computed zero is sent as all ones (RFC 768).
            if checksum == 0 && isUDP { checksum = 0xFFFF }
            bytes.storeBytes(of: checksum.bigEndian, toByteOffset: field, as: UInt16.self)
        }
        return true
    }
}
