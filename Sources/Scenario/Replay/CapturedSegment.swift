import Mesh

/// One IPv4 TCP segment or UDP datagram out of a captured frame. Everything else a capture
/// holds (ARP, IPv6, ICMP, fragments) is not a flow to replay and decodes to nil.
struct CapturedSegment {
    enum Transport { case tcp, udp }

    var time: UInt64
    var transport: Transport
    var source: IPv4Address
    var sourcePort: UInt16
    var destination: IPv4Address
    var destinationPort: UInt16
    var sequence: UInt32 = 0
    var flags: UInt8 = 0
    var payload: ArraySlice<UInt8>

    static let fin: UInt8 = 0x01, syn: UInt8 = 0x02, rst: UInt8 = 0x04, ack: UInt8 = 0x10

    init?(_ record: PcapFile.Record, linkType: UInt32) {
        let frame = record.frame
        let base = frame.startIndex
        func u16(_ at: Int) -> UInt16? {
            guard at + 2 <= frame.count else { return nil }
            return UInt16(frame[base + at]) << 8 | UInt16(frame[base + at + 1])
        }
        func u32(_ at: Int) -> UInt32? {
            guard let high = u16(at), let low = u16(at + 2) else { return nil }
            return UInt32(high) << 16 | UInt32(low)
        }
        // Where the IPv4 header starts, by link type.
        var ip: Int
        switch linkType {
        case PcapFile.linkTypeEthernet:
            ip = 14
            var etherType = u16(12)
            if etherType == 0x8100 { etherType = u16(16); ip = 18 }  // one 802.1Q tag
            guard etherType == 0x0800 else { return nil }
        case PcapFile.linkTypeLinuxCooked:
            guard u16(14) == 0x0800 else { return nil }
            ip = 16
        case PcapFile.linkTypeLinuxCookedV2:
            guard u16(0) == 0x0800 else { return nil }
            ip = 20
        default:
            ip = 0
        }
        guard ip < frame.count, frame[base + ip] >> 4 == 4 else { return nil }
        let headerLength = Int(frame[base + ip] & 0x0F) * 4
        guard headerLength >= 20, let totalLength = u16(ip + 2).map(Int.init), let fragment = u16(ip + 6),
            let source = u32(ip + 12), let destination = u32(ip + 16)
        else { return nil }
        // A fragment (more to come, or not the first) is not a whole segment.
        guard fragment & 0x3FFF == 0 else { return nil }
        let end = min(ip + totalLength, frame.count)
        let transportStart = ip + headerLength
        switch frame[base + ip + 9] {
        case 6:
            guard let sourcePort = u16(transportStart), let destinationPort = u16(transportStart + 2),
                let sequence = u32(transportStart + 4), transportStart + 14 <= end
            else { return nil }
            let dataOffset = Int(frame[base + transportStart + 12] >> 4) * 4
            guard dataOffset >= 20, transportStart + dataOffset <= end else { return nil }
            self.transport = .tcp
            self.sourcePort = sourcePort
            self.destinationPort = destinationPort
            self.sequence = sequence
            self.flags = frame[base + transportStart + 13]
            self.payload = frame[(base + transportStart + dataOffset)..<(base + end)]
        case 17:
            guard let sourcePort = u16(transportStart), let destinationPort = u16(transportStart + 2),
                let length = u16(transportStart + 4).map(Int.init), length >= 8, transportStart + 8 <= end
            else { return nil }
            self.transport = .udp
            self.sourcePort = sourcePort
            self.destinationPort = destinationPort
            self.payload = frame[(base + transportStart + 8)..<(base + min(transportStart + length, end))]
        default:
            return nil
        }
        self.time = record.timestamp
        self.source = IPv4Address(source)
        self.destination = IPv4Address(destination)
    }
}
