import NIOCore

/// Typed RDATA. Types this codec does not interpret keep their bytes (RFC 3597), so a message
/// can be relayed unchanged. OPT is not here: `DNSMessage.edns` carries it.
public enum DNSRecordData: Hashable, Sendable {
    case a(IPv4Address)
    case aaaa(IPv6Address)
    case ns(DNSName)
    case cname(DNSName)
    case ptr(DNSName)
    case soa(mname: DNSName, rname: DNSName, serial: UInt32, refresh: UInt32, retry: UInt32, expire: UInt32,
             minimum: UInt32)
    case mx(preference: UInt16, exchange: DNSName)
    /// Character strings of at most 255 octets each; longer ones are split when encoded.
    case txt([[UInt8]])
    case srv(priority: UInt16, weight: UInt16, port: UInt16, target: DNSName)
    /// Any other type, as raw RDATA. Using it for a type listed above (or OPT) makes the encoding
    /// decode as that type instead.
    case unknown(type: DNSRecordType, bytes: [UInt8])

    public var type: DNSRecordType {
        switch self {
        case .a: return .a
        case .aaaa: return .aaaa
        case .ns: return .ns
        case .cname: return .cname
        case .ptr: return .ptr
        case .soa: return .soa
        case .mx: return .mx
        case .txt: return .txt
        case .srv: return .srv
        case .unknown(let type, _): return type
        }
    }

    /// Reads `length` octets of RDATA of `type`; the content must fill them exactly.
    static func read(
        type: DNSRecordType, length: Int, recordOffset: Int, from reader: inout DNSWireReader
    ) throws(DNSDecodingError) -> DNSRecordData {
        let start = reader.offset
        func check(_ reader: DNSWireReader) throws(DNSDecodingError) {
            if reader.offset - start != length {
                throw .rdataLengthMismatch(recordOffset: recordOffset, type: type, declared: length,
                                           used: reader.offset - start)
            }
        }
        // Fixed-size types are checked before reading, so the error names the declared length.
        func expect(_ size: Int) throws(DNSDecodingError) {
            if length != size {
                throw .rdataLengthMismatch(recordOffset: recordOffset, type: type, declared: length, used: size)
            }
        }
        let data: DNSRecordData
        switch type {
        case .a:
            try expect(4)
            data = .a(IPv4Address(try reader.readUInt32("A address")))
        case .aaaa:
            try expect(16)
            // Sixteen bytes always make an address.
            data = .aaaa(IPv6Address(bytes: try reader.readBytes(16, "AAAA address"))!)
        case .ns:
            data = .ns(try reader.readName())
        case .cname:
            data = .cname(try reader.readName())
        case .ptr:
            data = .ptr(try reader.readName())
        case .soa:
            data = .soa(
                mname: try reader.readName(), rname: try reader.readName(),
                serial: try reader.readUInt32("SOA serial"), refresh: try reader.readUInt32("SOA refresh"),
                retry: try reader.readUInt32("SOA retry"), expire: try reader.readUInt32("SOA expire"),
                minimum: try reader.readUInt32("SOA minimum"))
        case .mx:
            data = .mx(preference: try reader.readUInt16("MX preference"), exchange: try reader.readName())
        case .srv:
            data = .srv(
                priority: try reader.readUInt16("SRV priority"), weight: try reader.readUInt16("SRV weight"),
                port: try reader.readUInt16("SRV port"), target: try reader.readName())
        case .txt:
            var strings: [[UInt8]] = []
            while reader.offset - start < length {
                let count = Int(try reader.readUInt8("TXT string length"))
                let used = reader.offset - start + count
                if used > length {
                    throw .rdataLengthMismatch(recordOffset: recordOffset, type: type, declared: length, used: used)
                }
                strings.append(try reader.readBytes(count, "TXT string"))
            }
            data = .txt(strings)
        default:
            data = .unknown(type: type, bytes: try reader.readBytes(length, "RDATA"))
        }
        try check(reader)
        return data
    }

    /// Writes the RDATA (without RDLENGTH). Names are compressed only in the RFC 1035 types, as
    /// RFC 3597 §4 requires; SRV targets are never compressed (RFC 2782).
    func write(into buffer: inout ByteBuffer, writer: inout DNSWireWriter) {
        switch self {
        case .a(let address):
            buffer.writeInteger(address.value)
        case .aaaa(let address):
            buffer.writeInteger(address.high)
            buffer.writeInteger(address.low)
        case .ns(let name), .cname(let name), .ptr(let name):
            writer.write(name, compress: true, into: &buffer)
        case .soa(let mname, let rname, let serial, let refresh, let retry, let expire, let minimum):
            writer.write(mname, compress: true, into: &buffer)
            writer.write(rname, compress: true, into: &buffer)
            for value in [serial, refresh, retry, expire, minimum] { buffer.writeInteger(value) }
        case .mx(let preference, let exchange):
            buffer.writeInteger(preference)
            writer.write(exchange, compress: true, into: &buffer)
        case .txt(let strings):
            for string in strings {
                if string.isEmpty {
                    buffer.writeInteger(UInt8(0))
                    continue
                }
                var start = 0
                while start < string.count {
                    let end = min(start + 255, string.count)
                    buffer.writeInteger(UInt8(end - start))
                    buffer.writeBytes(string[start..<end])
                    start = end
                }
            }
        case .srv(let priority, let weight, let port, let target):
            buffer.writeInteger(priority)
            buffer.writeInteger(weight)
            buffer.writeInteger(port)
            writer.write(target, compress: false, into: &buffer)
        case .unknown(_, let bytes):
            buffer.writeBytes(bytes)
        }
    }
}
