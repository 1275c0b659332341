import NIOCore

/// The EDNS(0) OPT pseudo-record (RFC 6891), lifted out of the additional section.
///
/// The extended RCODE bits are not stored here: they are the high bits of
/// `DNSHeader.responseCode`, which is where a reader looks for the outcome of a query.
public struct DNSEDNS: Hashable, Sendable {
    /// The payload size this implementation advertises by default: the DNS Flag Day 2020 value,
    /// which avoids IP fragmentation on common paths.
    public static let defaultPayloadSize: UInt16 = 1232

    /// The largest UDP payload the sender can reassemble (the OPT record's CLASS field).
    public var udpPayloadSize: UInt16
    public var version: UInt8
    /// DO: the sender accepts DNSSEC records (RFC 3225).
    public var dnssecOK: Bool
    public var options: [Option]

    public init(udpPayloadSize: UInt16 = DNSEDNS.defaultPayloadSize, version: UInt8 = 0, dnssecOK: Bool = false,
                options: [Option] = []) {
        self.udpPayloadSize = udpPayloadSize
        self.version = version
        self.dnssecOK = dnssecOK
        self.options = options
    }

    /// One EDNS option, kept as code and raw data.
    public struct Option: Hashable, Sendable {
        public var code: UInt16
        public var data: [UInt8]

        public init(code: UInt16, data: [UInt8]) {
            self.code = code
            self.data = data
        }
    }

    /// Octets of the whole OPT record: root owner, TYPE, CLASS, TTL, RDLENGTH and the options.
    var wireLength: Int { 11 + options.reduce(0) { $0 + 4 + $1.data.count } }

    /// Reads the OPT record's RDATA; `payloadSize` and `ttl` are its CLASS and TTL fields.
    static func read(
        payloadSize: UInt16, ttl: UInt32, length: Int, recordOffset: Int, from reader: inout DNSWireReader
    ) throws(DNSDecodingError) -> (DNSEDNS, extendedResponseCode: UInt8) {
        var options: [Option] = []
        var remaining = length
        while remaining > 0 {
            guard remaining >= 4 else {
                throw .malformedOPTRecord(recordOffset: recordOffset,
                                          reason: "\(remaining) bytes left in RDATA, too few for an option header")
            }
            let code = try reader.readUInt16("EDNS option code")
            let count = Int(try reader.readUInt16("EDNS option length"))
            remaining -= 4
            guard count <= remaining else {
                throw .malformedOPTRecord(recordOffset: recordOffset,
                                          reason: "option \(code) claims \(count) bytes; \(remaining) remain in RDATA")
            }
            options.append(Option(code: code, data: try reader.readBytes(count, "EDNS option data")))
            remaining -= count
        }
        let edns = DNSEDNS(udpPayloadSize: payloadSize, version: UInt8(truncatingIfNeeded: ttl >> 16),
                           dnssecOK: ttl & 0x8000 != 0, options: options)
        return (edns, UInt8(truncatingIfNeeded: ttl >> 24))
    }

    /// Writes the OPT record with the given extended RCODE bits. Options whose data exceed the
    /// 16-bit length field get a wrapped length, but such a record also makes the message too big
    /// to send, and the encoder reports it as truncated.
    func write(extendedResponseCode: UInt8, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(DNSRecordType.opt.rawValue)
        buffer.writeInteger(udpPayloadSize)
        buffer.writeInteger(UInt32(extendedResponseCode) << 24 | UInt32(version) << 16 | (dnssecOK ? 0x8000 : 0))
        buffer.writeInteger(UInt16(truncatingIfNeeded: wireLength - 11))
        for option in options {
            buffer.writeInteger(option.code)
            buffer.writeInteger(UInt16(truncatingIfNeeded: option.data.count))
            buffer.writeBytes(option.data)
        }
    }
}
