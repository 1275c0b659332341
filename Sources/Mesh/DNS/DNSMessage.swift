import NIOCore

/// A whole DNS message: header, the four sections, and the EDNS OPT record if there was one.
///
/// The OPT record never appears in `additionals`; it is `edns`. Section counts on the wire are
/// derived from the arrays (plus one for OPT).
public struct DNSMessage: Hashable, Sendable {
    /// The most a DNS message can take: the TCP length prefix is 16 bits.
    public static let maximumSize = 65_535
    /// The UDP limit for a peer that did not send EDNS (RFC 1035 §4.2.1).
    public static let classicUDPSize = 512

    public var header: DNSHeader
    public var questions: [DNSQuestion]
    public var answers: [DNSResourceRecord]
    public var authorities: [DNSResourceRecord]
    public var additionals: [DNSResourceRecord]
    public var edns: DNSEDNS?

    public init(header: DNSHeader = DNSHeader(), questions: [DNSQuestion] = [], answers: [DNSResourceRecord] = [],
                authorities: [DNSResourceRecord] = [], additionals: [DNSResourceRecord] = [], edns: DNSEDNS? = nil) {
        self.header = header
        self.questions = questions
        self.answers = answers
        self.authorities = authorities
        self.additionals = additionals
        self.edns = edns
    }

    /// Decodes the readable bytes of `buffer` (without the TCP length prefix). Octets after the
    /// last counted record are ignored, as most resolvers do.
    ///
    /// Every read is bounds-checked and the counts in the header are only loop bounds (each entry
    /// consumes at least one octet or fails), so malformed input throws instead of trapping,
    /// hanging or allocating by a forged count.
    public init(decoding buffer: ByteBuffer) throws(DNSDecodingError) {
        var reader = DNSWireReader(buffer)
        let (header, counts) = try DNSHeader.read(from: &reader)
        self.init(header: header)
        for _ in 0..<counts.questions {
            questions.append(try DNSQuestion.read(from: &reader))
        }
        for _ in 0..<counts.answers {
            // Only the additional section yields nil (for OPT); the others throw on OPT instead.
            if let record = try readRecord(from: &reader, section: "answer") { answers.append(record) }
        }
        for _ in 0..<counts.authorities {
            if let record = try readRecord(from: &reader, section: "authority") { authorities.append(record) }
        }
        for _ in 0..<counts.additionals {
            if let record = try readRecord(from: &reader, section: "additional") {
                additionals.append(record)
            }
        }
    }

    /// Reads one record; an OPT record in the additional section becomes `edns` and yields `nil`.
    private mutating func readRecord(from reader: inout DNSWireReader, section: String)
        throws(DNSDecodingError) -> DNSResourceRecord?
    {
        let recordOffset = reader.offset
        let name = try reader.readName()
        let type = DNSRecordType(rawValue: try reader.readUInt16("record TYPE"))
        let classValue = try reader.readUInt16("record CLASS")
        let ttl = try reader.readUInt32("record TTL")
        let length = Int(try reader.readUInt16("RDLENGTH"))
        if length > reader.remaining {
            throw .rdataOverrun(recordOffset: recordOffset, declared: length, remaining: reader.remaining)
        }
        guard type == .opt else {
            let data = try DNSRecordData.read(type: type, length: length, recordOffset: recordOffset, from: &reader)
            return DNSResourceRecord(name: name, class: DNSClass(rawValue: classValue), ttl: ttl, data: data)
        }
        guard section == "additional" else { throw .misplacedOPTRecord(recordOffset: recordOffset, section: section) }
        guard edns == nil else { throw .duplicateOPTRecord(recordOffset: recordOffset) }
        guard name.isRoot else {
            throw .malformedOPTRecord(recordOffset: recordOffset, reason: "owner is \(name), not the root")
        }
        let (edns, extendedBits) = try DNSEDNS.read(
            payloadSize: classValue, ttl: ttl, length: length, recordOffset: recordOffset, from: &reader)
        self.edns = edns
        header.responseCode = DNSResponseCode(rawValue: UInt16(extendedBits) << 4 | header.responseCode.headerBits)
        return nil
    }

    /// Appends the encoded message to `buffer` and returns whether it set TC.
    ///
    /// With `maximumSize` (for UDP: `DNSMessage.classicUDPSize` without EDNS, else the client's
    /// advertised size capped by ours; see `maximumUDPResponseSize`), whole records are dropped
    /// from the first one that does not fit, the OPT record's room being reserved first. A record
    /// dropped from the answer or authority section sets TC so the client retries over TCP;
    /// dropping only additional records does not (RFC 2181 §9). The header and questions are always
    /// written, even if they alone exceed the limit. Without a limit, 65,535 octets still apply.
    @discardableResult
    public func encode(into buffer: inout ByteBuffer, maximumSize: Int? = nil) -> Bool {
        let limit = min(maximumSize ?? DNSMessage.maximumSize, DNSMessage.maximumSize)
        let start = buffer.writerIndex
        var writer = DNSWireWriter(messageStart: start)
        buffer.writeRepeatingByte(0, count: DNSHeader.wireLength)

        let questionCount = min(questions.count, Int(UInt16.max))
        for question in questions.prefix(questionCount) {
            question.write(into: &buffer, writer: &writer)
        }
        let recordLimit = limit - (edns?.wireLength ?? 0)
        var setTC = writer.size(of: buffer) > recordLimit

        // Appends records while they fit; false once one did not (it is rolled back).
        func append(_ records: [DNSResourceRecord], count: inout Int) -> Bool {
            for record in records {
                let mark = buffer.writerIndex
                record.write(into: &buffer, writer: &writer)
                if writer.size(of: buffer) > recordLimit || count == Int(UInt16.max) {
                    buffer.moveWriterIndex(to: mark)
                    writer.forgetSuffixes(from: mark - start)
                    return false
                }
                count += 1
            }
            return true
        }
        var answerCount = 0
        var authorityCount = 0
        var additionalCount = 0
        if !setTC {
            setTC = !append(answers, count: &answerCount)
        }
        if !setTC {
            setTC = !append(authorities, count: &authorityCount)
        }
        if !setTC {
            _ = append(additionals, count: &additionalCount)
        }
        if let edns {
            edns.write(extendedResponseCode: header.responseCode.extendedBits, into: &buffer)
            additionalCount += 1
        }
        var header = self.header
        header.isTruncated = header.isTruncated || setTC
        header.set(
            counts: DNSHeader.SectionCounts(
                questions: UInt16(questionCount), answers: UInt16(answerCount),
                authorities: UInt16(authorityCount), additionals: UInt16(additionalCount)),
            at: start, in: &buffer)
        return setTC
    }
}
