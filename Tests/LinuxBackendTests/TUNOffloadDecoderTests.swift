import Mesh
import NIOCore
import NIOEmbedded
import Testing

@testable import LinuxBackend

/// What a TUN device with offloads reads, turned into the packets the mesh sends: exact bytes
/// (the expected checksums were computed apart from this code, byte pair by byte pair).
@Suite struct TUNOffloadDecoderTests {
    /// Headers both test packets share: 10.244.1.2:40000 → 10.244.2.2:5201.
    private static let source: [UInt8] = [10, 244, 1, 2]
    private static let destination: [UInt8] = [10, 244, 2, 2]

    /// A large TCP packet as the kernel hands it over: one set of headers, ten payload bytes,
    /// CWR, ACK, PSH and FIN set, checksums not filled in (the kernel leaves them partial).
    private static func largeSegment() -> ByteBuffer {
        var packet = ByteBuffer()
        var header = VirtioNetHeader()
        header.flags = VirtioNetHeader.needsChecksum
        header.segmentationType = VirtioNetHeader.SegmentationType.tcpIPv4
        header.headerLength = 40
        header.segmentSize = 4
        header.checksumStart = 20
        header.checksumOffset = 16
        header.write(to: &packet)
        packet.writeBytes([0x45, 0x00, 0x00, 0x32, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00] + source + destination)
        packet.writeBytes([0x9C, 0x40, 0x14, 0x51, 0x00, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x00, 0x07, 0x50, 0x99, 0x01, 0xF6, 0x12, 0x34, 0x00, 0x00])
        packet.writeBytes(Array(0..<10))
        return packet
    }

    private static func decode(_ reads: [ByteBuffer]) throws -> (packets: [[UInt8]], decoder: TUNOffloadDecoder, channel: EmbeddedChannel) {
        let decoder = TUNOffloadDecoder()
        let channel = EmbeddedChannel(handler: decoder)
        // Active, as the device's channel is, so a close on bad input would show.
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        for read in reads { try channel.writeInbound(read) }
        var packets: [[UInt8]] = []
        while let packet = try channel.readInbound(as: ByteBuffer.self) { packets.append(Array(packet.readableBytesView)) }
        return (packets, decoder, channel)
    }

    @Test func aLargeTCPPacketBecomesItsSegmentsWithTheirOwnLengthsIdentifiersSequenceNumbersAndChecksums() throws {
        let (packets, decoder, _) = try Self.decode([Self.largeSegment()])
        let common: [UInt8] = Self.source + Self.destination + [0x9C, 0x40, 0x14, 0x51, 0x00, 0x00]
        #expect(packets == [
            // First: CWR and ACK (no PSH, no FIN), sequence 1000, identification 0x1234.
            [0x45, 0x00, 0x00, 0x2C, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x0F, 0xAD] + common
                + [0x03, 0xE8, 0x00, 0x00, 0x00, 0x07, 0x50, 0x90, 0x01, 0xF6, 0xDD, 0xEA, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03],
            // Middle: ACK only, sequence 1004, identification 0x1235.
            [0x45, 0x00, 0x00, 0x2C, 0x12, 0x35, 0x40, 0x00, 0x40, 0x06, 0x0F, 0xAC] + common
                + [0x03, 0xEC, 0x00, 0x00, 0x00, 0x07, 0x50, 0x10, 0x01, 0xF6, 0xD6, 0x5E, 0x00, 0x00, 0x04, 0x05, 0x06, 0x07],
            // Last: the two bytes left, with PSH and FIN back.
            [0x45, 0x00, 0x00, 0x2A, 0x12, 0x36, 0x40, 0x00, 0x40, 0x06, 0x0F, 0xAD] + common
                + [0x03, 0xF0, 0x00, 0x00, 0x00, 0x07, 0x50, 0x19, 0x01, 0xF6, 0xD8, 0x56, 0x00, 0x00, 0x08, 0x09],
        ])
        #expect(decoder.segmentedReads == 1)
        for packet in packets { #expect(IPv4PacketHeader(validating: ByteBuffer(bytes: packet)) != nil) }
    }

    /// A read's header saying the checksum `offset` bytes after `start` is left to complete.
    private static func partialChecksumRead(start: UInt16, offset: UInt16) -> ByteBuffer {
        var read = ByteBuffer()
        var header = VirtioNetHeader()
        header.flags = VirtioNetHeader.needsChecksum
        header.checksumStart = start
        header.checksumOffset = offset
        header.write(to: &read)
        return read
    }

    @Test func aPartialChecksumIsCompleted() throws {
        var read = Self.partialChecksumRead(start: 20, offset: 6)
        let ip: [UInt8] = [0x45, 0x00, 0x00, 0x1F, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x61, 0xE2] + Self.source + Self.destination
        // The UDP checksum field holds the pseudo-header's sum, as the kernel leaves it.
        read.writeBytes(ip + [0x14, 0xE9, 0x00, 0x35, 0x00, 0x0B, 0x19, 0x08, 0xAB, 0xCD, 0xEF])
        let (packets, _, _) = try Self.decode([read])
        #expect(packets == [ip + [0x14, 0xE9, 0x00, 0x35, 0x00, 0x0B, 0x37, 0x00, 0xAB, 0xCD, 0xEF]])
    }

    @Test func aWholePacketPassesAsItCame() throws {
        var read = ByteBuffer()
        VirtioNetHeader().write(to: &read)
        read.writeBytes([0x45, 0x00, 0x00, 0x14] + [UInt8](repeating: 7, count: 16))
        let (packets, decoder, _) = try Self.decode([read])
        #expect(packets == [[0x45, 0x00, 0x00, 0x14] + [UInt8](repeating: 7, count: 16)])
        #expect(decoder.droppedReads == 0)
    }

    @Test func readsItCannotUnderstandAreDroppedAndCountedWithoutClosingTheDevice() throws {
        var short = ByteBuffer(bytes: [0x01, 0x01, 0x28])
        var udpSegmentation = Self.largeSegment()
        udpSegmentation.setInteger(UInt8(3), at: 1)
        var checksumOutside = Self.partialChecksumRead(start: 20, offset: 600)
        checksumOutside.writeBytes([0x45] + [UInt8](repeating: 0, count: 27))
        // A TCP header that says it is 60 bytes long, in a packet of 44.
        var truncated = Self.largeSegment()
        truncated.setInteger(UInt8(0xF0), at: VirtioNetHeader.length + 32)
        truncated = truncated.getSlice(at: 0, length: VirtioNetHeader.length + 44)!
        var notTCP = Self.largeSegment()
        notTCP.setInteger(UInt8(17), at: VirtioNetHeader.length + 9)
        var zeroSegmentSize = Self.largeSegment()
        zeroSegmentSize.setInteger(UInt16(0), at: 4, endianness: .little)
        short.moveWriterIndex(to: 3)

        let (packets, decoder, channel) = try Self.decode([short, udpSegmentation, checksumOutside, truncated, notTCP, zeroSegmentSize])
        #expect(packets.isEmpty)
        #expect(decoder.droppedReads == 6)
        #expect(channel.isActive)
        // And the next good read still comes through.
        try channel.writeInbound(Self.largeSegment())
        #expect(try channel.readInbound(as: ByteBuffer.self) != nil)
    }

    @Test func theEightBytesAtATimeSumAgreesWithTheBytePairSum() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let reference = IPv4PacketHeader.checksum(of: ByteBuffer(bytes: bytes), from: 0, count: length)
            let sum = bytes.withUnsafeBytes { InternetChecksum.checksum($0) }
            // 0x0000 and 0xFFFF are the same number in ones' complement; both sums fold the same way.
            #expect(sum == reference, "length \(length)")
        }
        // All ones everywhere: the carries wrap around at every width.
        let ones = [UInt8](repeating: 0xFF, count: 4096)
        #expect(ones.withUnsafeBytes { InternetChecksum.sum($0, initial: 0xFFFF) } == 0xFFFF)
    }
}
