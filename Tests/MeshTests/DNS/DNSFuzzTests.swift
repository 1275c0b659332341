import NIOCore
import Testing

@testable import Mesh

/// SplitMix64 (Steele, Lea and Flood 2014): a tiny seeded generator so every run sees the same
/// inputs and a failure can be replayed from its seed.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random valid messages, drawn so that names share suffixes (to exercise compression) and every
/// record type, header flag and EDNS field occurs.
private struct MessageGenerator {
    var random: SplitMix64

    private static let suffixes: [[[UInt8]]] = [
        [], [Array("local".utf8)], [Array("cluster".utf8), Array("local".utf8)],
        [Array("svc".utf8), Array("cluster".utf8), Array("local".utf8)], [Array("Example".utf8), Array("COM".utf8)],
    ]

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }
    mutating func bool() -> Bool { Bool.random(using: &random) }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) } }

    mutating func label() -> [UInt8] {
        switch int(0...9) {
        case 0: return bytes(int(1...63))  // any octets at all, dots and zeros included
        case 1: return Array(repeating: UInt8(ascii: "x"), count: 63)
        default:
            let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_".utf8)
            return (0..<int(1...12)).map { _ in alphabet[int(0...(alphabet.count - 1))] }
        }
    }

    mutating func name() -> DNSName {
        var labels = (0..<int(0...4)).map { _ in label() }
        labels += Self.suffixes[int(0...(Self.suffixes.count - 1))]
        while DNSName.wireLength(of: labels) > DNSName.maximumWireLength { labels.removeFirst() }
        // Labels are 1...63 octets and the length is capped just above.
        return try! DNSName(labels: labels)
    }

    mutating func data() -> DNSRecordData {
        switch int(0...9) {
        case 0: return .a(IPv4Address(UInt32.random(in: 0...UInt32.max, using: &random)))
        case 1: return .aaaa(IPv6Address(high: random.next(), low: random.next()))
        case 2: return .ns(name())
        case 3: return .cname(name())
        case 4: return .ptr(name())
        case 5:
            return .soa(mname: name(), rname: name(), serial: UInt32.random(in: 0...UInt32.max, using: &random),
                        refresh: 7200, retry: UInt32(int(0...100)), expire: 86400, minimum: UInt32(int(0...3600)))
        case 6: return .mx(preference: UInt16(int(0...65535)), exchange: name())
        case 7: return .txt((0..<int(0...3)).map { _ in bytes(int(0...255)) })
        case 8: return .srv(priority: UInt16(int(0...65535)), weight: UInt16(int(0...65535)),
                            port: UInt16(int(0...65535)), target: name())
        default:
            let types: [UInt16] = [3, 99, 256, 1000, 65280, 65535]
            return .unknown(type: DNSRecordType(rawValue: types[int(0...(types.count - 1))]), bytes: bytes(int(0...40)))
        }
    }

    mutating func record() -> DNSResourceRecord {
        DNSResourceRecord(name: name(), class: bool() ? .internet : DNSClass(rawValue: UInt16(int(0...65535))),
                          ttl: UInt32.random(in: 0...UInt32.max, using: &random), data: data())
    }

    mutating func message() -> DNSMessage {
        let edns = bool()
            ? DNSEDNS(udpPayloadSize: UInt16(int(0...65535)), version: UInt8(int(0...255)), dnssecOK: bool(),
                      options: (0..<int(0...2)).map { _ in .init(code: UInt16(int(0...65535)), data: bytes(int(0...20))) })
            : nil
        // Codes above 15 need the OPT record to carry their high bits.
        let responseCode = DNSResponseCode(rawValue: UInt16(edns == nil ? int(0...15) : int(0...4095)))
        let header = DNSHeader(
            id: UInt16(int(0...65535)), isResponse: bool(), opcode: DNSOpcode(rawValue: UInt8(int(0...15))),
            isAuthoritativeAnswer: bool(), isTruncated: bool(), isRecursionDesired: bool(),
            isRecursionAvailable: bool(), isAuthenticData: bool(), isCheckingDisabled: bool(),
            responseCode: responseCode)
        return DNSMessage(
            header: header,
            questions: (0..<int(0...2)).map { _ in
                DNSQuestion(name: name(), type: DNSRecordType(rawValue: UInt16(int(0...300))),
                            class: bool() ? .internet : .any)
            },
            answers: (0..<int(0...5)).map { _ in record() }, authorities: (0..<int(0...2)).map { _ in record() },
            additionals: (0..<int(0...3)).map { _ in record() }, edns: edns)
    }
}

@Suite struct DNSFuzzTests {
    private static func encode(_ message: DNSMessage) -> [UInt8] {
        var buffer = ByteBuffer()
        message.encode(into: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// Decodes `bytes`; a message that decodes must re-encode to something that decodes to the same
    /// message. Returns false (and records an issue) when that fails.
    private static func checkDecodeIsStable(_ bytes: [UInt8]) -> Bool {
        let message: DNSMessage
        do {
            message = try DNSMessage(decoding: ByteBuffer(bytes: bytes))
        } catch {
            // A typed DNSDecodingError is the expected outcome for most garbage.
            return !error.description.isEmpty
        }
        do {
            let again = try DNSMessage(decoding: ByteBuffer(bytes: encode(message)))
            #expect(again == message, "re-encoding changed the message decoded from \(bytes)")
            return again == message
        } catch {
            Issue.record("re-encoding a decoded message gave undecodable bytes: \(error); input \(bytes)")
            return false
        }
    }

    @Test func randomValidMessagesRoundTrip() throws {
        var generator = MessageGenerator(random: SplitMix64(seed: 0xD15_0001))
        for _ in 0..<1_000 {
            let message = generator.message()
            let bytes = Self.encode(message)
            let decoded = try DNSMessage(decoding: ByteBuffer(bytes: bytes))
            #expect(decoded == message)
            // Case is preserved as well, which == does not check.
            #expect(decoded.answers.map(\.name.labels) == message.answers.map(\.name.labels))
            if decoded != message { return }
        }
    }

    @Test func randomBytesNeverCrashOrHang() {
        var random = SplitMix64(seed: 0xD15_0002)
        var decoded = 0
        for round in 0..<20_000 {
            let count = Int.random(in: 0...120, using: &random)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            // Half the inputs get small section counts so that decoding gets past the header.
            if round % 2 == 0, bytes.count >= 12 {
                for index in 4..<12 { bytes[index] = index % 2 == 0 ? 0 : bytes[index] % 4 }
            }
            if (try? DNSMessage(decoding: ByteBuffer(bytes: bytes))) != nil { decoded += 1 }
            if !Self.checkDecodeIsStable(bytes) { return }
        }
        // Guards against a generator that only ever feeds the header check.
        #expect(decoded > 20)
    }

    @Test func mutatedValidMessagesNeverCrashOrHang() {
        var generator = MessageGenerator(random: SplitMix64(seed: 0xD15_0003))
        var seeds: [[UInt8]] = (0..<200).map { _ in Self.encode(generator.message()) }
        seeds.append(DNSCodecTests.digQuery)
        seeds.append(DNSCodecTests.pointerResponse)
        var decoded = 0
        for _ in 0..<20_000 {
            var bytes = seeds[generator.int(0...(seeds.count - 1))]
            for _ in 0..<generator.int(1...4) {
                guard !bytes.isEmpty else { break }
                let index = generator.int(0...(bytes.count - 1))
                switch generator.int(0...5) {
                case 0: bytes[index] = UInt8(generator.int(0...255))
                case 1: bytes[index] ^= 1 << UInt8(generator.int(0...7))
                case 2: bytes[index] = 0xC0  // start a pointer
                case 3: bytes.removeSubrange(index...)
                case 4: bytes.insert(UInt8(generator.int(0...255)), at: index)
                default: bytes.remove(at: index)
                }
            }
            if (try? DNSMessage(decoding: ByteBuffer(bytes: bytes))) != nil { decoded += 1 }
            if !Self.checkDecodeIsStable(bytes) { return }
        }
        #expect(decoded > 1_000)
    }

    /// A response whose first answer carries `rdata` as an unknown type at offset 28, so a later
    /// record's name (at 32 + rdata.count - 4) can point into it.
    private static func messageWithRawRegion(_ rdata: [UInt8], secondName: [UInt8]) -> [UInt8] {
        [0, 1, 0x80, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 1, 0, 1]  // header, question ". A IN" at 12
            + [0, 0, 99, 0, 1, 0, 0, 0, 0, UInt8(rdata.count >> 8), UInt8(rdata.count & 0xFF)] + rdata
            + secondName + [0, 99, 0, 1, 0, 0, 0, 0, 0, 0]
    }

    @Test func pointerLoopIsRejected() {
        // At 28 a pointer to 30, at 30 a pointer to 28; the second record's name enters at 30.
        let bytes = Self.messageWithRawRegion([0xC0, 30, 0xC0, 28], secondName: [0xC0, 30])
        #expect(DNSCodecTests.decodingError(bytes) == .pointerNotBackwards(offset: 28, target: 30))
        // A name pointing at itself.
        let selfLoop: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0xC0, 12, 0, 1, 0, 1]
        #expect(DNSCodecTests.decodingError(selfLoop) == .pointerNotBackwards(offset: 14, target: 12))
    }

    @Test func deepPointerChainIsRejectedAndAShallowOneAccepted() throws {
        // Root at 28, then pointers each to the one before: every jump is backwards.
        func chain(_ length: Int) -> [UInt8] {
            var rdata: [UInt8] = [0]
            for index in 0..<length {
                let target = index == 0 ? 28 : 28 + 1 + 2 * (index - 1)
                rdata += [0xC0 | UInt8(target >> 8), UInt8(target & 0xFF)]
            }
            let last = 28 + 1 + 2 * (length - 1)
            return Self.messageWithRawRegion(rdata, secondName: [0xC0 | UInt8(last >> 8), UInt8(last & 0xFF)])
        }
        let shallow = try DNSMessage(decoding: ByteBuffer(bytes: chain(100)))
        #expect(shallow.answers.count == 2 && shallow.answers[1].name == .root)
        #expect(DNSCodecTests.decodingError(chain(3_000))
            == .tooManyPointers(nameOffset: 28 + 1 + 2 * 3_000, limit: DNSWireReader.maximumPointerJumps))
    }
}
