import NIOCore
import Testing

@testable import Mesh

/// Wire bytes written out by hand from RFC 1035 / RFC 6891, so the codec is checked against the
/// format rather than against itself.
@Suite struct DNSCodecTests {
    /// `dig example.com A` as dig 9.18 sends it: RD and AD set, EDNS with a 1232-byte payload and
    /// an 8-byte client COOKIE option.
    static let digQuery: [UInt8] = [
        0x12, 0x34, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00,  // example.com.
        0x00, 0x01, 0x00, 0x01,  // A IN
        0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c,  // OPT, 1232, RDLENGTH 12
        0x00, 0x0a, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // COOKIE
    ]

    /// A response: example.com CNAME www.example.com, www.example.com A 93.184.216.34, with the
    /// compression pointers a server writes (0xc00c = the question name, 0xc029 = offset 41).
    static let pointerResponse: [UInt8] = [
        0x12, 0x34, 0x81, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
        0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x06,  // offset 29: CNAME, 3600 s
        0x03, 0x77, 0x77, 0x77, 0xc0, 0x0c,  // offset 41: www + pointer to example.com
        0xc0, 0x29, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x04,  // A, 300 s
        0x5d, 0xb8, 0xd8, 0x22,
    ]

    static func name(_ text: String) -> DNSName {
        // Test literals are valid names.
        try! DNSName(text)
    }

    static func encode(_ message: DNSMessage, maximumSize: Int? = nil) -> (bytes: [UInt8], truncated: Bool) {
        var buffer = ByteBuffer()
        let truncated = message.encode(into: &buffer, maximumSize: maximumSize)
        return (Array(buffer.readableBytesView), truncated)
    }

    static func decode(_ bytes: [UInt8]) throws(DNSDecodingError) -> DNSMessage {
        try DNSMessage(decoding: ByteBuffer(bytes: bytes))
    }

    static func decodingError(_ bytes: [UInt8]) -> DNSDecodingError? {
        do {
            _ = try decode(bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func decodesDigQueryByteForByte() throws {
        let message = try Self.decode(Self.digQuery)
        #expect(message.header == DNSHeader(id: 0x1234, isRecursionDesired: true, isAuthenticData: true))
        #expect(message.questions == [DNSQuestion(name: Self.name("example.com."), type: .a)])
        #expect(message.answers.isEmpty && message.authorities.isEmpty && message.additionals.isEmpty)
        #expect(message.edns == DNSEDNS(udpPayloadSize: 1232, options: [.init(code: 10, data: [1, 2, 3, 4, 5, 6, 7, 8])]))
        #expect(Self.encode(message).bytes == Self.digQuery)
    }

    @Test func decodesCompressedResponseAndReencodesTheSamePointers() throws {
        let message = try Self.decode(Self.pointerResponse)
        #expect(message.header.isResponse && message.header.isRecursionDesired && message.header.isRecursionAvailable)
        #expect(!message.header.isAuthoritativeAnswer && message.header.responseCode == .noError)
        #expect(message.answers == [
            DNSResourceRecord(name: Self.name("example.com"), ttl: 3600, data: .cname(Self.name("www.example.com"))),
            DNSResourceRecord(name: Self.name("www.example.com"), ttl: 300, data: .a(IPv4Address(93, 184, 216, 34))),
        ])
        #expect(message.edns == nil)
        #expect(Self.encode(message).bytes == Self.pointerResponse)
    }

    @Test func everyRecordTypeRoundTrips() throws {
        let owner = Self.name("Svc.NS.svc.cluster.local")
        let datas: [DNSRecordData] = [
            .a(IPv4Address(10, 96, 0, 10)),
            .aaaa(IPv6Address(high: 0x2001_0db8_0000_0000, low: 0x0000_0000_0000_0001)),
            .ns(Self.name("ns1.cluster.local")),
            .cname(Self.name("other.ns.svc.cluster.local")),
            .ptr(Self.name("svc.ns.svc.cluster.local")),
            .soa(mname: Self.name("ns.dns.cluster.local"), rname: Self.name("hostmaster.cluster.local"),
                 serial: 2024_01_01, refresh: 7200, retry: 1800, expire: 86400, minimum: 30),
            .mx(preference: 10, exchange: Self.name("mail.cluster.local")),
            .txt([Array("v=spf1 -all".utf8), [], Array(repeating: 0x41, count: 255)]),
            .srv(priority: 0, weight: 100, port: 8080, target: Self.name("pod-1.svc.ns.svc.cluster.local")),
            .unknown(type: DNSRecordType(rawValue: 65280), bytes: [0, 1, 2, 0xff]),
            .unknown(type: DNSRecordType(rawValue: 99), bytes: []),
        ]
        for data in datas {
            let message = DNSMessage(
                header: DNSHeader(id: 7, isResponse: true, isAuthoritativeAnswer: true),
                questions: [DNSQuestion(name: owner, type: data.type)],
                answers: [DNSResourceRecord(name: owner, ttl: 30, data: data)],
                authorities: [DNSResourceRecord(name: owner, class: DNSClass(rawValue: 3), ttl: 0, data: data)],
                additionals: [DNSResourceRecord(name: Self.name("x.y"), ttl: 1, data: data)])
            let decoded = try Self.decode(Self.encode(message).bytes)
            #expect(decoded == message, "\(data.type)")
        }
        #expect(DNSRecordData.aaaa(IPv6Address(high: 0x2001_0db8_0000_0000, low: 1)).type.description == "AAAA")
        #expect(DNSRecordType(rawValue: 65280).description == "TYPE65280")
    }

    @Test func longTXTStringsAreSplitIntoCharacterStrings() throws {
        let long = Array(repeating: UInt8(0x61), count: 300)
        let message = DNSMessage(answers: [DNSResourceRecord(name: .root, ttl: 0, data: .txt([long]))])
        let decoded = try Self.decode(Self.encode(message).bytes)
        #expect(decoded.answers.first?.data == .txt([Array(long[..<255]), Array(long[255...])]))
    }

    @Test func compressionShrinksRepeatedSuffixes() throws {
        let name = Self.name("web.default.svc.cluster.local")  // 31 octets uncompressed
        let target = Self.name("pod.web.default.svc.cluster.local")
        let message = DNSMessage(
            questions: [DNSQuestion(name: name, type: .a)],
            answers: (1...10).map { DNSResourceRecord(name: name, ttl: 30, data: .a(IPv4Address(10, 0, 0, UInt8($0)))) }
                + [DNSResourceRecord(name: name, ttl: 30, data: .cname(target))])
        let bytes = Self.encode(message).bytes
        // Header 12, question 31 + 4; each A record a 2-octet pointer + 10 + 4; the CNAME's
        // target is "pod" + pointer: 2 + 10 + 4 + 2.
        #expect(bytes.count == 12 + 35 + 10 * 16 + 18)
        #expect(bytes.count < 12 + 35 + 10 * (31 + 14) + 31 + 10 + 35)
        #expect(try Self.decode(bytes) == message)
    }

    @Test func compressionMatchesNamesCaseInsensitivelyButKeepsTheFirstSpelling() throws {
        let message = DNSMessage(
            questions: [DNSQuestion(name: Self.name("WEB.example.com"), type: .a)],
            answers: [DNSResourceRecord(name: Self.name("web.EXAMPLE.com"), ttl: 1, data: .a(IPv4Address(1, 2, 3, 4)))])
        let bytes = Self.encode(message).bytes
        #expect(bytes.count == 12 + 17 + 4 + 2 + 14)
        #expect(try Self.decode(bytes).answers[0].name.description == "WEB.example.com.")
    }

    @Test func truncationKeepsHeaderAndQuestionAndSetsTC() throws {
        let name = Self.name("big.default.svc.cluster.local")
        let answers = (0..<100).map {
            DNSResourceRecord(name: name, ttl: 30, data: .a(IPv4Address(10, 1, 0, UInt8($0))))
        }
        let message = DNSMessage(
            header: DNSHeader(id: 99, isResponse: true), questions: [DNSQuestion(name: name, type: .a)],
            answers: answers)
        let (bytes, truncated) = Self.encode(message, maximumSize: 512)
        #expect(truncated)
        #expect(bytes.count <= 512)
        let decoded = try Self.decode(bytes)
        #expect(decoded.header.isTruncated && decoded.header.id == 99)
        #expect(decoded.questions == message.questions)
        // 12 + 35 for header and question, then 16 octets per compressed A record.
        #expect(decoded.answers == Array(answers.prefix((512 - 47) / 16)))

        let (fullBytes, fullTruncated) = Self.encode(message)
        #expect(!fullTruncated)
        #expect(try Self.decode(fullBytes) == message)
    }

    @Test func truncationReservesRoomForOPT() throws {
        let name = Self.name("big.default.svc.cluster.local")
        let message = DNSMessage(
            questions: [DNSQuestion(name: name, type: .a)],
            answers: (0..<100).map { DNSResourceRecord(name: name, ttl: 30, data: .a(IPv4Address(10, 1, 0, UInt8($0)))) },
            edns: DNSEDNS(udpPayloadSize: 4096, options: [.init(code: 10, data: Array(repeating: 7, count: 16))]))
        let (bytes, truncated) = Self.encode(message, maximumSize: 600)
        #expect(truncated && bytes.count <= 600)
        let decoded = try Self.decode(bytes)
        #expect(decoded.edns == message.edns)
        #expect(decoded.answers.count == (600 - 47 - 31) / 16)
    }

    @Test func droppingOnlyAdditionalRecordsDoesNotSetTC() throws {
        let name = Self.name("srv.example")
        let message = DNSMessage(
            questions: [DNSQuestion(name: name, type: .srv)],
            answers: [DNSResourceRecord(name: name, ttl: 5, data: .srv(priority: 1, weight: 1, port: 80, target: name))],
            additionals: (0..<50).map { DNSResourceRecord(name: name, ttl: 5, data: .a(IPv4Address(UInt32($0)))) })
        let (bytes, truncated) = Self.encode(message, maximumSize: 200)
        #expect(!truncated && bytes.count <= 200)
        let decoded = try Self.decode(bytes)
        #expect(!decoded.header.isTruncated)
        #expect(decoded.answers == message.answers)
        #expect(decoded.additionals.count > 0 && decoded.additionals.count < 50)
    }

    @Test func ednsFieldsAndExtendedResponseCodeRoundTrip() throws {
        let message = DNSMessage(
            header: DNSHeader(id: 1, isResponse: true, responseCode: .badVersion),
            edns: DNSEDNS(udpPayloadSize: 4096, version: 1, dnssecOK: true,
                          options: [.init(code: 8, data: [0, 1, 24, 0, 10, 0, 0]), .init(code: 12, data: [])]))
        let bytes = Self.encode(message).bytes
        #expect(bytes[3] & 0x0F == 0)  // BADVERS (16) has no bits in the header's 4
        // OPT at 12: root, TYPE 41, CLASS 4096, TTL = ext-rcode 1 | version 1 | DO.
        #expect(Array(bytes[12..<23]) == [0, 0, 41, 0x10, 0x00, 0x01, 0x01, 0x80, 0x00, 0x00, 15])
        let decoded = try Self.decode(bytes)
        #expect(decoded == message)
        #expect(decoded.header.responseCode == .badVersion)
    }

    @Test func namesCompareCaseInsensitivelyAndPrintAsGiven() throws {
        let upper = try DNSName("Web.Default.SVC.cluster.local.")
        let lower = try DNSName("web.default.svc.cluster.local")
        #expect(upper == lower)
        #expect(upper.hashValue == lower.hashValue)
        #expect(Set([upper, lower]).count == 1)
        #expect(upper.description == "Web.Default.SVC.cluster.local.")
        #expect(upper != (try DNSName("web.default.svc.cluster")))
        #expect(upper.isSubdomain(of: try DNSName("CLUSTER.local")))
        #expect(upper.isSubdomain(of: upper) && upper.isSubdomain(of: .root))
        #expect(!(try DNSName("cluster.local")).isSubdomain(of: upper))
        #expect(!(try DNSName("xcluster.local")).isSubdomain(of: try DNSName("cluster.local")))
        #expect(upper.dropping(first: 3) == (try DNSName("cluster.local")))
        #expect(try DNSName("web").appending(try DNSName("ns.svc.cluster.local")) == (try DNSName("web.ns.svc.cluster.local")))
        #expect(try DNSName(".") == .root && DNSName.root.description == ".")
    }

    @Test func nameEscapesRoundTripThroughText() throws {
        let name = try DNSName(labels: [Array("a.b".utf8), [0x00, 0x5c, 0x20], Array("c".utf8)])
        #expect(name.description == #"a\.b.\000\\\032.c."#)
        #expect(try DNSName(name.description).labels == name.labels)
        #expect(try DNSName(#"a\."#).labels == [Array("a.".utf8)])
    }

    @Test func invalidNamesAreRejectedWithTheReason() {
        let long = String(repeating: "a", count: 64)
        #expect(throws: DNSNameError.labelTooLong(label: long + ".", length: 64)) { try DNSName("\(long).com") }
        #expect(throws: DNSNameError.emptyLabel(name: "a..b")) { try DNSName("a..b") }
        #expect(throws: DNSNameError.emptyLabel(name: ".a")) { try DNSName(".a") }
        #expect(throws: DNSNameError.emptyLabel(name: "")) { try DNSName("") }
        #expect(throws: DNSNameError.invalidEscape(name: #"a\25"#)) { try DNSName(#"a\25"#) }
        #expect(throws: DNSNameError.invalidEscape(name: #"a\300"#)) { try DNSName(#"a\300"#) }
        // Four 63-octet labels take 4 × 64 + 1 = 257 octets.
        let label = String(repeating: "b", count: 63)
        let tooLong = [label, label, label, label].joined(separator: ".")
        #expect(throws: DNSNameError.nameTooLong(name: tooLong + ".", wireLength: 257)) { try DNSName(tooLong) }
        #expect((try? DNSName([label, label, label, String(label.prefix(61))].joined(separator: "."))) != nil)
        #expect(DNSNameError.labelTooLong(label: "x", length: 64).description.contains("at most 63"))
    }

    @Test func decodingErrorsSayWhereAndWhat() {
        // A question name that is a pointer to offset 14, after itself.
        let forward: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0e, 0, 0]
        #expect(Self.decodingError(forward) == .pointerNotBackwards(offset: 12, target: 14))
        #expect(Self.decodingError(forward)?.description.hasPrefix("name pointer at offset 12 points forward") == true)

        // An A record at offset 12 with RDLENGTH 300 and 12 octets left.
        let overrun: [UInt8] = [0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 30, 0x01, 0x2c]
            + Array(repeating: 0, count: 12)
        #expect(Self.decodingError(overrun) == .rdataOverrun(recordOffset: 12, declared: 300, remaining: 12))
        #expect(Self.decodingError(overrun)?.description == "record at offset 12 claims 300 bytes of RDATA; 12 remain")

        let shortA: [UInt8] = [0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 30, 0, 5, 1, 2, 3, 4, 5]
        #expect(Self.decodingError(shortA) == .rdataLengthMismatch(recordOffset: 12, type: .a, declared: 5, used: 4))

        // A length octet of 0x40 (top bits 01) where a label should be.
        let extended: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0]
        #expect(Self.decodingError(extended) == .unsupportedLabelType(offset: 12, octet: 0x40))

        #expect(Self.decodingError([0, 1, 0, 0]) == .truncated(field: "QDCOUNT", offset: 4, needed: 2, remaining: 0))
        #expect(Self.decodingError([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x61])
            == .truncated(field: "name label", offset: 13, needed: 3, remaining: 1))

        // OPT in the answer section, two OPTs, and an OPT owned by a non-root name.
        let opt: [UInt8] = [0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0]
        #expect(Self.decodingError([0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0] + opt)
            == .misplacedOPTRecord(recordOffset: 12, section: "answer"))
        #expect(Self.decodingError([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2] + opt + opt) == .duplicateOPTRecord(recordOffset: 23))
        #expect(Self.decodingError([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x61] + opt)
            == .malformedOPTRecord(recordOffset: 12, reason: "owner is a., not the root"))
        let badOption: [UInt8] = [0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 6, 0, 10, 0, 9, 1, 2]
        #expect(Self.decodingError([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] + badOption)
            == .malformedOPTRecord(recordOffset: 12, reason: "option 10 claims 9 bytes; 2 remain in RDATA"))
    }

    @Test func responseToQueryCopiesWhatItMustAndEchoesEDNS() throws {
        let query = try Self.decode(Self.digQuery)
        let response = query.makeResponse(responseCode: .nameError)
        #expect(response.header == DNSHeader(
            id: 0x1234, isResponse: true, isAuthoritativeAnswer: true, isRecursionDesired: true,
            responseCode: .nameError))
        #expect(response.questions == query.questions)
        #expect(response.edns == DNSEDNS(udpPayloadSize: 1232))
        #expect(query.maximumUDPResponseSize(serverMaximum: 1000) == 1000)
        #expect(query.maximumUDPResponseSize(serverMaximum: 4096) == 1232)

        var plain = query
        plain.edns = nil
        #expect(plain.makeResponse().edns == nil)
        #expect(plain.maximumUDPResponseSize() == 512)
        var tiny = query
        tiny.edns?.udpPayloadSize = 100
        tiny.edns?.dnssecOK = true
        #expect(tiny.maximumUDPResponseSize() == 512)
        #expect(tiny.makeResponse().edns?.dnssecOK == true)
    }

    @Test func ipv6AddressesPrintInRFC5952Form() {
        #expect(IPv6Address(high: 0x2001_0db8_0000_0000, low: 1).description == "2001:db8::1")
        #expect(IPv6Address(high: 0, low: 0).description == "::")
        #expect(IPv6Address(high: 0, low: 1).description == "::1")
        #expect(IPv6Address(high: 0x2001_0db8_0000_0001, low: 0x0000_0001_0000_0001).description == "2001:db8:0:1:0:1:0:1")
        #expect(IPv6Address(high: 0x2001_0000_0000_0001, low: 0x0001_0000_0000_0001).description == "2001::1:1:0:0:1")
        let address = IPv6Address(high: 0x0102_0304_0506_0708, low: 0x090a_0b0c_0d0e_0f10)
        #expect(IPv6Address(bytes: address.bytes) == address)
        #expect(IPv6Address(bytes: [1, 2, 3]) == nil)
    }
}
