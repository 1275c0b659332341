import Mesh
import NIOCore

/// Simulated packets as the IPv4 bytes a packet interface (a TUN device) reads and writes, and
/// back: the simulator's TCP and UDP, header for header as a capture writes them.
///
/// TCP windows travel as `FrameEncoder` writes them: unscaled on SYN segments, otherwise
/// shifted by the window scale every simulated SYN announces, so a window crosses a packet
/// interface rounded down to a multiple of 128 bytes.
enum IPPacketCodec {
    /// Why bytes written to a packet interface do not make a simulated packet.
    enum DecodingFailure: String, Error {
        case malformed = "malformed-packet"
        /// ICMP and other protocols the simulator does not carry.
        case unsupportedProtocol = "unsupported-protocol"
    }

    /// `packet` as one IPv4 packet (no link header).
    static func encode(_ packet: Packet, allocator: ByteBufferAllocator) throws(FrameEncodingError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: FrameEncoder.frameLength(of: packet))
        try FrameEncoder.encode(packet, into: &buffer)
        buffer.moveReaderIndex(forwardBy: FrameEncoder.ethernetHeaderLength)
        return buffer
    }

    /// The simulated packet `bytes` hold, sent from `origin`.
    static func decode(_ bytes: ByteBuffer, id: UInt64, origin: NodeID) throws(DecodingFailure) -> Packet {
        guard let header = IPv4PacketHeader(validating: bytes) else { throw .malformed }
        var segment = bytes.getSlice(at: bytes.readerIndex + header.headerLength, length: header.totalLength - header.headerLength)!
        guard let sourcePort: UInt16 = segment.readInteger(), let destinationPort: UInt16 = segment.readInteger() else {
            throw header.transport == IPv4PacketHeader.TransportNumber.tcp
                || header.transport == IPv4PacketHeader.TransportNumber.udp ? .malformed : .unsupportedProtocol
        }
        let source = Endpoint(header.source, sourcePort)
        let destination = Endpoint(header.destination, destinationPort)
        switch header.transport {
        case IPv4PacketHeader.TransportNumber.udp:
            guard let length: UInt16 = segment.readInteger(), Int(length) == segment.readableBytes + 6,
                segment.readInteger(as: UInt16.self) != nil
            else { throw .malformed }
            return Packet(
                id: id, transport: .udp, source: source, destination: destination, payload: segment,
                ttl: header.timeToLive, origin: origin)
        case IPv4PacketHeader.TransportNumber.tcp:
            guard let sequence: UInt32 = segment.readInteger(), let acknowledgment: UInt32 = segment.readInteger(),
                let offset: UInt8 = segment.readInteger(), let rawFlags: UInt8 = segment.readInteger(),
                let window: UInt16 = segment.readInteger(), segment.readInteger(as: UInt32.self) != nil,  // checksum, urgent
                Int(offset >> 4) * 4 >= FrameEncoder.tcpHeaderLength,
                segment.readSlice(length: Int(offset >> 4) * 4 - FrameEncoder.tcpHeaderLength) != nil  // options
            else { throw .malformed }
            let flags = TCPFlags(rawValue: rawFlags & 0x1F)
            let bytesOfWindow = flags.contains(.syn) ? UInt32(window) : UInt32(window) << UInt32(FrameEncoder.tcpWindowScale)
            let tcp = TCPHeader(flags: flags, sequence: sequence, acknowledgment: acknowledgment, window: bytesOfWindow)
            return Packet(
                id: id, transport: .tcp, source: source, destination: destination, tcp: tcp, payload: segment,
                ttl: header.timeToLive, origin: origin)
        default:
            throw .unsupportedProtocol
        }
    }
}
