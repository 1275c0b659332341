import Mesh
import NIOCore

/// Why a packet could not be encoded as a frame.
public enum FrameEncodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// IPv4's 16-bit total length cannot describe the packet.
    case packetTooLarge(packetID: UInt64, ipTotalLength: Int)
    /// A `.tcp` packet arrived without its TCP header.
    case missingTCPHeader(packetID: UInt64)

    public var description: String {
        switch self {
        case .packetTooLarge(let id, let length):
            return "cannot encode packet \(id): IPv4 total length \(length) exceeds 65535;"
                + " split the payload into smaller segments"
        case .missingTCPHeader(let id):
            return "cannot encode packet \(id): transport is TCP but the packet has no TCP header"
        }
    }
}

/// Encodes simulated packets as Ethernet II / IPv4 / UDP or TCP frames, the bytes a capture on
/// a real wire would hold. Pure: no I/O, no state; it appends to a buffer the caller owns so a
/// capture can reuse one buffer for every packet.
public enum FrameEncoder {
    public static let ethernetHeaderLength = 14
    public static let ipv4HeaderLength = 20
    public static let udpHeaderLength = 8
    public static let tcpHeaderLength = 20
    /// MSS (4 bytes) + NOP + window scale (3 bytes), carried on SYN segments only.
    public static let tcpSYNOptionsLength = 8

    /// The window-scale shift announced on SYN segments. `TCPHeader.window` is in bytes and
    /// may exceed 16 bits; non-SYN segments carry `window >> tcpWindowScale` (clamped to
    /// 65535), which Wireshark multiplies back after seeing both SYNs.
    public static let tcpWindowScale: UInt8 = 7
    /// The MSS announced on SYN segments: Ethernet's 1500-byte MTU minus IPv4 and TCP headers.
    public static let tcpMaximumSegmentSize: UInt16 = 1460

    static let etherTypeIPv4: UInt16 = 0x0800
    static let ipProtocolTCP: UInt8 = 6
    static let ipProtocolUDP: UInt8 = 17

    /// How many bytes `encode` appends for `packet`.
    public static func frameLength(of packet: Packet) -> Int {
        ethernetHeaderLength + ipv4HeaderLength + transportHeaderLength(of: packet)
            + packet.payload.readableBytes
    }

    /// Appends `packet` as one Ethernet frame at `buffer`'s writer index and returns the number
    /// of bytes appended. On error nothing is appended.
    @discardableResult
    public static func encode(_ packet: Packet, into buffer: inout ByteBuffer) throws(FrameEncodingError) -> Int {
        if packet.transport == .tcp && packet.tcp == nil {
            throw .missingTCPHeader(packetID: packet.id)
        }
        let transportLength = transportHeaderLength(of: packet) + packet.payload.readableBytes
        let ipTotalLength = ipv4HeaderLength + transportLength
        guard ipTotalLength <= Int(UInt16.max) else {
            throw .packetTooLarge(packetID: packet.id, ipTotalLength: ipTotalLength)
        }
        let frameStart = buffer.writerIndex
        buffer.reserveCapacity(minimumWritableBytes: ethernetHeaderLength + ipTotalLength)

        // Ethernet II. Locally administered unicast MACs (02:00 + the IPv4 address) keep
        // hosts apart in Wireshark's conversation views without a simulated ARP.
        writeMAC(for: packet.destination.address, into: &buffer)
        writeMAC(for: packet.source.address, into: &buffer)
        buffer.writeInteger(etherTypeIPv4)

        // IPv4, no options.
        let ipStart = buffer.writerIndex
        buffer.writeInteger(UInt8(0x45))  // version 4, IHL 5 words
        buffer.writeInteger(UInt8(0))  // DSCP/ECN
        buffer.writeInteger(UInt16(ipTotalLength))
        buffer.writeInteger(UInt16(truncatingIfNeeded: packet.id))  // identification
        buffer.writeInteger(UInt16(0x4000))  // DF, fragment offset 0
        buffer.writeInteger(packet.ttl)
        buffer.writeInteger(packet.transport == .tcp ? ipProtocolTCP : ipProtocolUDP)
        buffer.writeInteger(UInt16(0))  // checksum, patched below
        buffer.writeInteger(packet.source.address.value)
        buffer.writeInteger(packet.destination.address.value)
        let ipChecksum = finish(onesComplementSum(of: buffer, from: ipStart, count: ipv4HeaderLength))
        buffer.setInteger(ipChecksum, at: ipStart + 10)

        let transportStart = buffer.writerIndex
        let checksumOffset: Int
        if let tcp = packet.tcp, packet.transport == .tcp {
            writeTCPHeader(tcp, of: packet, into: &buffer)
            checksumOffset = 16
        } else {
            buffer.writeInteger(packet.source.port)
            buffer.writeInteger(packet.destination.port)
            buffer.writeInteger(UInt16(transportLength))
            buffer.writeInteger(UInt16(0))  // checksum, patched below
            checksumOffset = 6
        }
        buffer.writeImmutableBuffer(packet.payload)

        // Transport checksum over the pseudo-header (addresses, protocol, length) + segment.
        var sum = UInt32(packet.source.address.value >> 16) + UInt32(packet.source.address.value & 0xFFFF)
        sum += UInt32(packet.destination.address.value >> 16) + UInt32(packet.destination.address.value & 0xFFFF)
        sum += UInt32(packet.transport == .tcp ? ipProtocolTCP : ipProtocolUDP) + UInt32(transportLength)
        sum += onesComplementSum(of: buffer, from: transportStart, count: transportLength)
        var checksum = finish(sum)
        // UDP reserves 0 for "no checksum"; a computed 0 is sent as its equivalent 0xFFFF.
        if packet.transport == .udp && checksum == 0 { checksum = 0xFFFF }
        buffer.setInteger(checksum, at: transportStart + checksumOffset)

        return buffer.writerIndex - frameStart
    }

    private static func transportHeaderLength(of packet: Packet) -> Int {
        guard packet.transport == .tcp else { return udpHeaderLength }
        let isSYN = packet.tcp?.flags.contains(.syn) ?? false
        return tcpHeaderLength + (isSYN ? tcpSYNOptionsLength : 0)
    }

    private static func writeTCPHeader(_ tcp: TCPHeader, of packet: Packet, into buffer: inout ByteBuffer) {
        let isSYN = tcp.flags.contains(.syn)
        let headerLength = tcpHeaderLength + (isSYN ? tcpSYNOptionsLength : 0)
        // RFC 7323: the window field of a SYN is never scaled.
        let window = isSYN ? min(tcp.window, 0xFFFF) : min(tcp.window >> UInt32(tcpWindowScale), 0xFFFF)
        buffer.writeInteger(packet.source.port)
        buffer.writeInteger(packet.destination.port)
        buffer.writeInteger(tcp.sequence)
        // A segment without ACK carries zeros here, as real stacks send.
        buffer.writeInteger(tcp.flags.contains(.ack) ? tcp.acknowledgment : 0)
        buffer.writeInteger(UInt8(headerLength / 4) << 4)  // data offset, reserved bits 0
        buffer.writeInteger(tcp.flags.rawValue)
        buffer.writeInteger(UInt16(window))
        buffer.writeInteger(UInt16(0))  // checksum, patched by the caller
        buffer.writeInteger(UInt16(0))  // urgent pointer
        if isSYN {
            buffer.writeInteger(UInt8(2))  // MSS, length 4
            buffer.writeInteger(UInt8(4))
            buffer.writeInteger(tcpMaximumSegmentSize)
            buffer.writeInteger(UInt8(1))  // NOP, aligns the options to 32 bits
            buffer.writeInteger(UInt8(3))  // window scale, length 3
            buffer.writeInteger(UInt8(3))
            buffer.writeInteger(tcpWindowScale)
        }
    }

    private static func writeMAC(for address: IPv4Address, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0x0200))
        buffer.writeInteger(address.value)
    }

    /// The 16-bit big-endian words of `count` bytes at absolute index `start`, summed without
    /// folding (a UInt32 cannot overflow for IPv4-sized input); an odd last byte is padded.
    private static func onesComplementSum(of buffer: ByteBuffer, from start: Int, count: Int) -> UInt32 {
        buffer.withUnsafeReadableBytes { raw in
            let bytes = raw[(start - buffer.readerIndex)...].prefix(count)
            var sum: UInt32 = 0
            var index = bytes.startIndex
            while index + 1 < bytes.endIndex {
                sum &+= UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
                index += 2
            }
            if index < bytes.endIndex { sum &+= UInt32(bytes[index]) << 8 }
            return sum
        }
    }

    private static func finish(_ sum: UInt32) -> UInt16 {
        var folded = sum
        while folded > 0xFFFF { folded = (folded & 0xFFFF) + (folded >> 16) }
        return ~UInt16(folded)
    }
}
