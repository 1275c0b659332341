import NIOCore

/// The fixed 12-octet message header (RFC 1035 §4.1.1, AD/CD from RFC 4035 §3.2).
///
/// `responseCode` is the full 12-bit code: decoding joins the header's 4 bits with the OPT
/// record's extended bits, and encoding splits it again. The section counts are not stored here:
/// a `DNSMessage` derives them from its sections, so they can never disagree.
public struct DNSHeader: Hashable, Sendable {
    public var id: UInt16
    /// QR: this message is a response.
    public var isResponse: Bool
    public var opcode: DNSOpcode
    /// AA
    public var isAuthoritativeAnswer: Bool
    /// TC
    public var isTruncated: Bool
    /// RD
    public var isRecursionDesired: Bool
    /// RA
    public var isRecursionAvailable: Bool
    /// AD
    public var isAuthenticData: Bool
    /// CD
    public var isCheckingDisabled: Bool
    public var responseCode: DNSResponseCode

    public init(
        id: UInt16 = 0, isResponse: Bool = false, opcode: DNSOpcode = .query,
        isAuthoritativeAnswer: Bool = false, isTruncated: Bool = false, isRecursionDesired: Bool = false,
        isRecursionAvailable: Bool = false, isAuthenticData: Bool = false, isCheckingDisabled: Bool = false,
        responseCode: DNSResponseCode = .noError
    ) {
        self.id = id
        self.isResponse = isResponse
        self.opcode = opcode
        self.isAuthoritativeAnswer = isAuthoritativeAnswer
        self.isTruncated = isTruncated
        self.isRecursionDesired = isRecursionDesired
        self.isRecursionAvailable = isRecursionAvailable
        self.isAuthenticData = isAuthenticData
        self.isCheckingDisabled = isCheckingDisabled
        self.responseCode = responseCode
    }

    /// QDCOUNT, ANCOUNT, NSCOUNT and ARCOUNT as they appear on the wire.
    public struct SectionCounts: Hashable, Sendable {
        public var questions: UInt16
        public var answers: UInt16
        public var authorities: UInt16
        public var additionals: UInt16

        public init(questions: UInt16, answers: UInt16, authorities: UInt16, additionals: UInt16) {
            self.questions = questions
            self.answers = answers
            self.authorities = authorities
            self.additionals = additionals
        }
    }

    public static let wireLength = 12

    /// The header and counts from the front of `reader`; the response code holds the 4 header bits.
    static func read(from reader: inout DNSWireReader) throws(DNSDecodingError) -> (DNSHeader, SectionCounts) {
        let id = try reader.readUInt16("header ID")
        let flags = try reader.readUInt16("header flags")
        let counts = SectionCounts(
            questions: try reader.readUInt16("QDCOUNT"), answers: try reader.readUInt16("ANCOUNT"),
            authorities: try reader.readUInt16("NSCOUNT"), additionals: try reader.readUInt16("ARCOUNT"))
        let header = DNSHeader(
            id: id, isResponse: flags & 0x8000 != 0, opcode: DNSOpcode(rawValue: UInt8(flags >> 11 & 0x0F)),
            isAuthoritativeAnswer: flags & 0x0400 != 0, isTruncated: flags & 0x0200 != 0,
            isRecursionDesired: flags & 0x0100 != 0, isRecursionAvailable: flags & 0x0080 != 0,
            isAuthenticData: flags & 0x0020 != 0, isCheckingDisabled: flags & 0x0010 != 0,
            responseCode: DNSResponseCode(rawValue: flags & 0x000F))
        return (header, counts)
    }

    /// The 16 flag bits; only the low 4 bits of the response code fit here.
    var flags: UInt16 {
        var flags = UInt16(opcode.rawValue) << 11 | responseCode.headerBits
        if isResponse { flags |= 0x8000 }
        if isAuthoritativeAnswer { flags |= 0x0400 }
        if isTruncated { flags |= 0x0200 }
        if isRecursionDesired { flags |= 0x0100 }
        if isRecursionAvailable { flags |= 0x0080 }
        if isAuthenticData { flags |= 0x0020 }
        if isCheckingDisabled { flags |= 0x0010 }
        return flags
    }

    /// Writes the header over the 12 octets reserved at `index` (the encoder fills it in last,
    /// once it knows which records fitted).
    func set(counts: SectionCounts, at index: Int, in buffer: inout ByteBuffer) {
        buffer.setInteger(id, at: index)
        buffer.setInteger(flags, at: index + 2)
        buffer.setInteger(counts.questions, at: index + 4)
        buffer.setInteger(counts.answers, at: index + 6)
        buffer.setInteger(counts.authorities, at: index + 8)
        buffer.setInteger(counts.additionals, at: index + 10)
    }
}
