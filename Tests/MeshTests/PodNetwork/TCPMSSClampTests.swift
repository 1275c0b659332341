import Mesh
import NIOCore
import Testing

/// A TCP SYN through the pod network announces no larger segment than the tunnel carries.
@Suite struct TCPMSSClampTests {
    /// 10.244.1.2:40000 → 10.244.2.2:8080, SYN, options MSS 1460, NOP, window scale 7, NOP,
    /// NOP, SACK permitted... as Linux sends them (here MSS, NOP, WS, NOP, NOP, SACK-permitted).
    static func syn(mss: UInt16, flags: UInt8 = 0x02, fragment: UInt16 = 0x4000) -> ByteBuffer {
        let options: [UInt8] = [2, 4, UInt8(mss >> 8), UInt8(mss & 0xFF), 1, 3, 3, 7, 1, 1, 4, 2]
        var tcp = ByteBuffer()
        tcp.writeInteger(UInt16(40000))
        tcp.writeInteger(UInt16(8080))
        tcp.writeInteger(UInt32(0x1122_3344))
        tcp.writeInteger(UInt32(0))
        tcp.writeInteger(UInt8((20 + options.count) / 4) << 4)
        tcp.writeInteger(flags)
        tcp.writeInteger(UInt16(64240))
        tcp.writeInteger(UInt16(0))
        tcp.writeInteger(UInt16(0))
        tcp.writeBytes(options)
        var pseudo = ByteBuffer(bytes: [10, 244, 1, 2, 10, 244, 2, 2, 0, 6])
        pseudo.writeInteger(UInt16(tcp.readableBytes))
        pseudo.writeImmutableBuffer(tcp)
        tcp.setInteger(IPv4PacketHeader.checksum(of: pseudo, from: 0, count: pseudo.readableBytes), at: 16)
        var packet = ByteBuffer(bytes: [0x45, 0])
        packet.writeInteger(UInt16(20 + tcp.readableBytes))
        packet.writeBytes([0, 1])
        packet.writeInteger(fragment)
        packet.writeBytes([64, 6, 0, 0, 10, 244, 1, 2, 10, 244, 2, 2])
        packet.setInteger(IPv4PacketHeader.checksum(of: packet, from: 0, count: 20), at: 10)
        packet.writeImmutableBuffer(tcp)
        return packet
    }

    /// 0 when the TCP checksum of `packet` (a 20-byte IPv4 header, then TCP) is right.
    static func tcpChecksumResidue(_ packet: ByteBuffer) -> UInt16 {
        let length = packet.readableBytes - 20
        var pseudo = ByteBuffer(bytes: [10, 244, 1, 2, 10, 244, 2, 2, 0, 6])
        pseudo.writeInteger(UInt16(length))
        pseudo.writeImmutableBuffer(packet.getSlice(at: 20, length: length)!)
        return IPv4PacketHeader.checksum(of: pseudo, from: 0, count: pseudo.readableBytes)
    }

    @Test func aLargerMSSIsLoweredAndTheChecksumStaysRight() throws {
        var packet = Self.syn(mss: 1460)
        #expect(Self.tcpChecksumResidue(packet) == 0)
        let header = try #require(IPv4PacketHeader(validating: packet))
        #expect(TCPMSSClamp.maximumSegmentSize(forMTU: 1400) == 1360)
        #expect(TCPMSSClamp.clamp(&packet, header: header, maximum: 1360))
        // Only the option's value (1360 = 0x0550) and the checksum changed.
        let expected = Self.syn(mss: 1360)
        #expect(Array(packet.readableBytesView) == Array(expected.readableBytesView))
        #expect(Self.tcpChecksumResidue(packet) == 0)
    }

    @Test func whatNeedsNoClampPassesUntouched() throws {
        for (packet, why) in [
            (Self.syn(mss: 1300), "an MSS already small enough"),
            (Self.syn(mss: 1460, flags: 0x10), "not a SYN"),
            (Self.syn(mss: 1460, fragment: 0x2000), "a fragment"),
        ] {
            var copy = packet
            let header = try #require(IPv4PacketHeader(validating: copy))
            #expect(!TCPMSSClamp.clamp(&copy, header: header, maximum: 1360), "\(why)")
            #expect(copy == packet, "\(why)")
        }
    }

    /// A data offset past the segment, or an option running past the header, is not parsed into.
    @Test func aMalformedTCPHeaderIsLeftAlone() throws {
        var pastTheEnd = Self.syn(mss: 1460)
        pastTheEnd.setInteger(UInt8(15 << 4), at: 32)
        var overlong = Self.syn(mss: 1460)
        overlong.setInteger(UInt8(40), at: 41)
        for var packet in [pastTheEnd, overlong] {
            let before = packet
            let header = try #require(IPv4PacketHeader(validating: packet))
            #expect(!TCPMSSClamp.clamp(&packet, header: header, maximum: 1360))
            #expect(packet == before)
        }
    }
}
