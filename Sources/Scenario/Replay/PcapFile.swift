import Mesh

/// A classic pcap file read whole: its link type and its records. Microsecond and nanosecond
/// files in either byte order are read, as tcpdump, tshark, libpcap and `PcapFileWriter` write
/// them. (pcapng is not: `tshark -F pcap` or `editcap -F pcap` converts it.)
public struct PcapFile: Sendable {
    public struct Record: Sendable {
        /// Nanoseconds since the epoch (or since the simulation's start, for NetSim's captures).
        public var timestamp: UInt64
        /// The captured bytes (at most the snapshot length; `originalLength` says how long the packet was).
        public var frame: ArraySlice<UInt8>
        public var originalLength: Int
    }

    public static let linkTypeEthernet: UInt32 = 1
    public static let linkTypeRaw: UInt32 = 101
    public static let linkTypeLinuxCooked: UInt32 = 113
    public static let linkTypeLinuxCookedV2: UInt32 = 276

    public var linkType: UInt32
    public var records: [Record]

    /// Parses `bytes`; `path` only names the file in errors. A record cut short at the end (a
    /// capture that was still being written) ends the file without an error.
    public init(bytes: [UInt8], path: String) throws(PcapReadError) {
        guard bytes.count >= 24 else { throw .notPcap(path: path, reason: "\(bytes.count) bytes, shorter than a pcap header") }
        let magic = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        let littleEndian: Bool
        let nanoseconds: Bool
        switch magic {
        case 0xA1B2_C3D4: (littleEndian, nanoseconds) = (true, false)
        case 0xA1B2_3C4D: (littleEndian, nanoseconds) = (true, true)
        case 0xD4C3_B2A1: (littleEndian, nanoseconds) = (false, false)
        case 0x4D3C_B2A1: (littleEndian, nanoseconds) = (false, true)
        case 0x0A0D_0D0A:
            throw .notPcap(path: path, reason: "it is pcapng; convert it with `editcap -F pcap IN OUT`")
        default:
            throw .notPcap(path: path, reason: "unknown magic number 0x\(String(magic, radix: 16))")
        }
        func word(_ offset: Int) -> UInt32 {
            let b = bytes[offset..<(offset + 4)].map(UInt32.init)
            return littleEndian ? b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24 : b[3] | b[2] << 8 | b[1] << 16 | b[0] << 24
        }
        linkType = word(20) & 0x0FFF_FFFF
        guard [Self.linkTypeEthernet, Self.linkTypeRaw, Self.linkTypeLinuxCooked, Self.linkTypeLinuxCookedV2].contains(linkType) else {
            throw .unsupportedLinkType(path: path, linkType: linkType)
        }
        records = []
        var offset = 24
        while offset + 16 <= bytes.count {
            let seconds = UInt64(word(offset)), fraction = UInt64(word(offset + 4))
            let captured = Int(word(offset + 8)), original = Int(word(offset + 12))
            let start = offset + 16
            guard captured <= 262_144 else {
                throw .corruptRecord(path: path, index: records.count, reason: "a captured length of \(captured) bytes")
            }
            guard start + captured <= bytes.count else { break }
            records.append(Record(
                timestamp: seconds &* 1_000_000_000 &+ (nanoseconds ? fraction : fraction &* 1_000),
                frame: bytes[start..<(start + captured)], originalLength: original))
            offset = start + captured
        }
    }
}

extension PcapFile {
    /// A pcap file (nanosecond timestamps, little-endian) of `records`, as tcpdump and this
    /// reader read it: what `edgemesh capture` writes into a field bundle.
    public static func encode(linkType: UInt32, records: [(timestamp: UInt64, bytes: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        func word(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        func half(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        word(0xA1B2_3C4D)
        half(2)
        half(4)
        word(0)
        word(0)
        word(262_144)
        word(linkType)
        for record in records {
            word(UInt32(truncatingIfNeeded: record.timestamp / 1_000_000_000))
            word(UInt32(record.timestamp % 1_000_000_000))
            word(UInt32(record.bytes.count))
            word(UInt32(record.bytes.count))
            out += record.bytes
        }
        return out
    }
}
