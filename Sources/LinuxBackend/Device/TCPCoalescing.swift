import NIOCore

/// Joins the TCP segments of one burst that continue each other into one large packet for a
/// TUN device with offloads, as a NIC's receive offload (GRO) does: the node's stack then
/// forwards and delivers one 64 KiB packet where it would have handled forty segments one by
/// one, which is most of the cost of a pod's TCP download through the tunnel.
///
/// Segments join only when the kernel would have joined them itself: the same flow, sequence
/// numbers that follow on, the same acknowledgement, window, TTL, TOS and TCP options, ACK
/// with at most PSH set (which closes a group), Don't Fragment set and no IP options, each the
/// size of the first but for a smaller last one. Anything else is written as it came, and the
/// order within each flow is kept.
struct TCPCoalescing {
    /// A packet as written, or several joined: indices into the burst, in order.
    struct Group {
        var members: [Int]
        /// Payload bytes per segment: the first member's.
        var segmentSize: Int
        fileprivate var nextSequence: UInt32
        fileprivate var totalLength: Int
        /// No more may join: it ended with PSH or a segment shorter than the first.
        fileprivate var closed: Bool
    }

    private struct Segment {
        var flow: Flow
        var sequence: UInt32
        var payloadLength: Int
        var push: Bool
    }

    private struct Flow: Hashable {
        var addresses: UInt64
        var ports: UInt32
    }

    static let ipHeaderLength = 20
    private static let acknowledgement: UInt8 = 0x10
    private static let push: UInt8 = 0x08

    /// The groups of `packets` (whole IPv4 packets, each at its reader index), in the order of
    /// their first members; every packet is in exactly one.
    static func groups(of packets: [ByteBuffer]) -> [Group] {
        var groups: [Group] = []
        var open: [Flow: Int] = [:]
        for (index, packet) in packets.enumerated() {
            guard let segment = segment(packet) else {
                groups.append(Group(members: [index], segmentSize: 0, nextSequence: 0, totalLength: 0, closed: true))
                continue
            }
            if let position = open[segment.flow], canJoin(packet, segment, groups[position], packets) {
                groups[position].members.append(index)
                groups[position].nextSequence = segment.sequence &+ UInt32(segment.payloadLength)
                groups[position].totalLength += segment.payloadLength
                groups[position].closed = segment.push || segment.payloadLength < groups[position].segmentSize
                continue
            }
            open[segment.flow] = groups.count
            groups.append(Group(
                members: [index], segmentSize: segment.payloadLength, nextSequence: segment.sequence &+ UInt32(segment.payloadLength),
                totalLength: packet.readableBytes, closed: segment.push))
        }
        return groups
    }

    /// The fields that decide joining, for a segment that may join at all.
    private static func segment(_ packet: ByteBuffer) -> Segment? {
        let base = packet.readerIndex
        guard let versionAndLength: UInt8 = packet.getInteger(at: base), versionAndLength == 0x45,
            let fragment: UInt16 = packet.getInteger(at: base + 6), fragment == 0x4000,
            packet.getInteger(at: base + 9, as: UInt8.self) == 6,
            let offsetByte: UInt8 = packet.getInteger(at: base + 32), let flags: UInt8 = packet.getInteger(at: base + 33),
            flags & ~push == acknowledgement,
            let addresses: UInt64 = packet.getInteger(at: base + 12), let ports: UInt32 = packet.getInteger(at: base + 20),
            let sequence: UInt32 = packet.getInteger(at: base + 24)
        else { return nil }
        let headersLength = ipHeaderLength + Int(offsetByte >> 4) * 4
        guard offsetByte >> 4 >= 5, headersLength < packet.readableBytes else { return nil }
        return Segment(
            flow: Flow(addresses: addresses, ports: ports), sequence: sequence, payloadLength: packet.readableBytes - headersLength,
            push: flags & push != 0)
    }

    private static func canJoin(_ packet: ByteBuffer, _ segment: Segment, _ group: Group, _ packets: [ByteBuffer]) -> Bool {
        guard !group.closed, segment.sequence == group.nextSequence, segment.payloadLength <= group.segmentSize,
            group.totalLength + segment.payloadLength <= Int(UInt16.max)
        else { return false }
        let first = packets[group.members[0]]
        let headersLength = packet.readableBytes - segment.payloadLength
        guard first.readableBytes - group.segmentSize == headersLength,
            // TOS and TTL.
            first.getInteger(at: first.readerIndex + 1, as: UInt8.self) == packet.getInteger(at: packet.readerIndex + 1, as: UInt8.self),
            first.getInteger(at: first.readerIndex + 8, as: UInt8.self) == packet.getInteger(at: packet.readerIndex + 8, as: UInt8.self),
            // Acknowledgement number, then the data offset, flags but PSH, and window.
            first.getInteger(at: first.readerIndex + 28, as: UInt32.self) == packet.getInteger(at: packet.readerIndex + 28, as: UInt32.self),
            first.getInteger(at: first.readerIndex + 32, as: UInt32.self).map({ $0 & 0xFFF7_FFFF })
                == packet.getInteger(at: packet.readerIndex + 32, as: UInt32.self).map({ $0 & 0xFFF7_FFFF })
        else { return false }
        // TCP options, byte for byte (timestamps included, as the kernel's GRO wants them).
        let optionsLength = headersLength - ipHeaderLength - 20
        return optionsLength == 0
            || first.getSlice(at: first.readerIndex + 40, length: optionsLength)
                == packet.getSlice(at: packet.readerIndex + 40, length: optionsLength)
    }

    /// The header and the IP and TCP headers to write before the members' payloads: the first
    /// member's headers with the joined length, the last one's PSH, a fresh IP checksum and, in the TCP checksum
    /// field, the pseudo-header's sum for the kernel to complete (`VirtioNetHeader.needsChecksum`).
    static func headers(of group: Group, in packets: [ByteBuffer], allocator: ByteBufferAllocator) -> (VirtioNetHeader, ByteBuffer) {
        let first = packets[group.members[0]]
        let headersLength = first.readableBytes - group.segmentSize
        var headers = allocator.buffer(capacity: headersLength)
        headers.writeImmutableBuffer(first.getSlice(at: first.readerIndex, length: headersLength)!)
        headers.setInteger(UInt16(group.totalLength), at: 2)
        headers.setInteger(UInt16(0), at: 10)
        // PSH, which only the last member may carry, goes on the joined packet (the kernel's
        // segmentation puts it back on the last segment).
        let last = packets[group.members[group.members.count - 1]]
        let lastFlags: UInt8 = last.getInteger(at: last.readerIndex + ipHeaderLength + 13)!
        headers.setInteger(headers.getInteger(at: ipHeaderLength + 13, as: UInt8.self)! | lastFlags & push, at: ipHeaderLength + 13)
        let source: UInt32 = headers.getInteger(at: 12)!
        let destination: UInt32 = headers.getInteger(at: 16)!
        let pseudo = InternetChecksum.pseudoHeaderSum(
            source: source, destination: destination, transport: 6, length: group.totalLength - ipHeaderLength)
        headers.withUnsafeMutableReadableBytes { bytes in
            let ipChecksum = InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<ipHeaderLength]))
            bytes.storeBytes(of: ipChecksum.bigEndian, toByteOffset: 10, as: UInt16.self)
        }
        var folded = pseudo
        while folded > 0xFFFF { folded = (folded & 0xFFFF) + (folded >> 16) }
        headers.setInteger(UInt16(folded), at: ipHeaderLength + 16)
        var header = VirtioNetHeader()
        header.flags = VirtioNetHeader.needsChecksum
        header.segmentationType = VirtioNetHeader.SegmentationType.tcpIPv4
        header.headerLength = UInt16(headersLength)
        header.segmentSize = UInt16(group.segmentSize)
        header.checksumStart = UInt16(ipHeaderLength)
        header.checksumOffset = 16
        return (header, headers)
    }
}
