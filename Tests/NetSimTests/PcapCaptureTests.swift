import Foundation
import Mesh
import NIOCore
import Testing

@testable import NetSim

/// The path of `tshark` if it is on PATH; the dissection test needs it.
private let tsharkPath: String? = {
    let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
    return directories.map { "\($0)/tshark" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

@Suite struct PcapCaptureTests {
    static let client = IPv4Address(10, 0, 0, 1)
    static let server = IPv4Address(10, 0, 1, 2)

    // MARK: - Exact bytes

    @Test func udpFrameAndFileHeadersAreExact() throws {
        let path = temporaryPath("udp")
        defer { unlink(path) }
        let packet = udpPacket(id: 0x1_1234, payload: "hi!")  // id wraps to 0x1234 on the wire
        let writer = try PcapFileWriter(path: path)
        try writer.record(packet, at: 1_500_000_000)
        try writer.close()
        let file = try #require(FileManager.default.contents(atPath: path)).map { $0 }

        let ipHeader: [UInt8] = [
            0x45, 0x00, 0x00, 0x1F,  // version/IHL, DSCP, total length 31
            0x12, 0x34, 0x40, 0x00,  // identification, DF
            0x40, 0x11, 0x00, 0x00,  // TTL 64, UDP, checksum placeholder
            10, 0, 0, 1, 10, 0, 1, 2,
        ]
        let udp: [UInt8] = [0x9C, 0x40, 0x9C, 0x41, 0x00, 0x0B, 0x00, 0x00, 0x68, 0x69, 0x21]
        let pseudoHeader: [UInt8] = [10, 0, 0, 1, 10, 0, 1, 2, 0, 17, 0x00, 0x0B]
        let ipChecksum = internetChecksum(ipHeader)
        let udpChecksum = internetChecksum(pseudoHeader + udp)
        // Worked by hand as well, so a fault shared by encoder and helper still shows.
        #expect(ipChecksum == 0x1398)
        #expect(udpChecksum == 0x28EA)

        var expectedFrame: [UInt8] = [0x02, 0x00, 10, 0, 1, 2, 0x02, 0x00, 10, 0, 0, 1, 0x08, 0x00]
        expectedFrame += ipHeader + udp
        expectedFrame[14 + 10] = UInt8(ipChecksum >> 8)
        expectedFrame[14 + 11] = UInt8(ipChecksum & 0xFF)
        expectedFrame[14 + 20 + 6] = UInt8(udpChecksum >> 8)
        expectedFrame[14 + 20 + 7] = UInt8(udpChecksum & 0xFF)

        let fileHeader: [UInt8] = [
            0x4D, 0x3C, 0xB2, 0xA1, 0x02, 0x00, 0x04, 0x00,  // nanosecond magic, version 2.4
            0, 0, 0, 0, 0, 0, 0, 0,  // thiszone, sigfigs
            0xFF, 0xFF, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  // snaplen 65535, Ethernet
        ]
        let recordHeader: [UInt8] = [
            0x01, 0x00, 0x00, 0x00, 0x00, 0x65, 0xCD, 0x1D,  // 1 s + 500,000,000 ns
            45, 0, 0, 0, 45, 0, 0, 0,  // captured and original length
        ]
        #expect(file == fileHeader + recordHeader + expectedFrame)
        #expect(writer.recordCount == 1)
    }

    @Test func tcpSegmentsCarryOptionsScaledWindowsAndValidChecksums() throws {
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        let syn = tcpPacket(id: 1, from: Self.client, 40100, to: Self.server, 45678, [.syn], seq: 1000, ack: 77, window: 64240)
        let synLength = try FrameEncoder.encode(syn, into: &buffer)
        #expect(synLength == FrameEncoder.frameLength(of: syn))
        let synBytes = buffer.readBytes(length: synLength)!
        #expect(synLength == 14 + 20 + 28)
        #expect(synBytes[34 + 12] == 7 << 4)  // data offset: 7 words
        #expect(synBytes[34 + 13] == 0x02)
        #expect(Array(synBytes[34 + 8..<34 + 12]) == [0, 0, 0, 0])  // ACK bit clear: no ack number
        #expect(Array(synBytes[34 + 14..<34 + 16]) == [0xFA, 0xF0])  // 64240, unscaled on SYN
        #expect(Array(synBytes[34 + 20..<34 + 28]) == [2, 4, 0x05, 0xB4, 1, 3, 3, 7])  // MSS 1460, NOP, WS 7
        #expect(transportChecksumVerifies(synBytes))
        #expect(ipHeaderChecksumVerifies(synBytes))

        let data = tcpPacket(
            id: 2, from: Self.client, 40100, to: Self.server, 45678, [.ack, .psh], seq: 1001, ack: 5001,
            window: 262_144, payload: "hello")
        let dataLength = try FrameEncoder.encode(data, into: &buffer)
        let dataBytes = buffer.readBytes(length: dataLength)!
        #expect(dataLength == 14 + 20 + 20 + 5)
        #expect(dataBytes[34 + 12] == 5 << 4)
        #expect(dataBytes[34 + 13] == 0x18)
        #expect(Array(dataBytes[34 + 4..<34 + 12]) == [0, 0, 0x03, 0xE9, 0, 0, 0x13, 0x89])
        #expect(Array(dataBytes[34 + 14..<34 + 16]) == [0x08, 0x00])  // 262144 >> 7 = 2048
        #expect(transportChecksumVerifies(dataBytes))

        let huge = tcpPacket(id: 3, from: Self.client, 1, to: Self.server, 2, [.ack], seq: 0, ack: 0, window: .max)
        let hugeLength = try FrameEncoder.encode(huge, into: &buffer)
        #expect(Array(buffer.readBytes(length: hugeLength)![34 + 14..<34 + 16]) == [0xFF, 0xFF])  // clamped
    }

    @Test func encoderAppendsAfterExistingBytesAndRejectsBadPackets() throws {
        var buffer = ByteBufferAllocator().buffer(capacity: 16)
        buffer.writeBytes([0xAA, 0xBB, 0xCC])
        buffer.moveReaderIndex(forwardBy: 1)  // checksums must use absolute offsets
        let packet = udpPacket(id: 9, payload: "checksum")
        let length = try FrameEncoder.encode(packet, into: &buffer)
        #expect(buffer.readBytes(length: 2) == [0xBB, 0xCC])
        let frame = buffer.readBytes(length: length)!
        #expect(ipHeaderChecksumVerifies(frame))
        #expect(transportChecksumVerifies(frame))

        let before = buffer.writerIndex
        var missingHeader = packet
        missingHeader.transport = .tcp
        #expect(throws: FrameEncodingError.missingTCPHeader(packetID: 9)) {
            try FrameEncoder.encode(missingHeader, into: &buffer)
        }
        let tooBig = udpPacket(id: 10, payload: String(repeating: "x", count: 65_535 - 28 + 1))
        #expect(throws: FrameEncodingError.packetTooLarge(packetID: 10, ipTotalLength: 65_536)) {
            try FrameEncoder.encode(tooBig, into: &buffer)
        }
        #expect(buffer.writerIndex == before)
    }

    // MARK: - Writer behaviour

    @Test func writerBuffersFlushesAndReportsErrorsWithThePath() throws {
        let path = temporaryPath("many")
        defer { unlink(path) }
        let writer = try PcapFileWriter(path: path)
        let packet = udpPacket(id: 1, payload: String(repeating: "p", count: 100))
        let recordLength = 16 + FrameEncoder.frameLength(of: packet)
        var flushedEarly = false
        for index in 0..<1_000 {
            try writer.record(packet, at: UInt64(index) * 1_000)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            // Nothing but the header until 64 KiB are pending; then a write, not one per record.
            if size > 24 { flushedEarly = true; #expect(size > PcapFileWriter.flushThreshold) }
        }
        #expect(flushedEarly)
        try writer.close()
        try writer.close()  // harmless
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(size == 24 + 1_000 * recordLength)
        #expect(writer.recordCount == 1_000)

        #expect(throws: PcapFileWriterError.alreadyClosed(path: path)) { try writer.record(packet, at: 0) }

        let missing = "/nonexistent-\(UInt32.random(in: 0 ... .max))/capture.pcap"
        do {
            _ = try PcapFileWriter(path: missing)
            Issue.record("opening \(missing) should fail")
        } catch {
            guard case .cannotOpen(let errorPath, let reason) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(errorPath == missing)
            #expect(reason.contains("No such file"))
            #expect(error.description.contains(missing))
        }
    }

    // MARK: - tshark

    @Test(.enabled(if: tsharkPath != nil, "tshark is not on PATH; install it (apt-get install -y tshark) to dissect captures"))
    func tsharkDissectsEveryFrameWithoutErrors() throws {
        let tshark = try #require(tsharkPath)
        let path = temporaryPath("tshark")
        defer { unlink(path) }
        let c = Self.client, s = Self.server
        // A consistent conversation, so TCP analysis has nothing to warn about.
        let packets: [(Packet, UInt64)] = [
            (udpPacket(id: 1, payload: "ping"), 1_000_000),
            (tcpPacket(id: 2, from: c, 40100, to: s, 45678, [.syn], seq: 1000, ack: 0, window: 64240), 2_000_000),
            (tcpPacket(id: 3, from: s, 45678, to: c, 40100, [.syn, .ack], seq: 5000, ack: 1001, window: 65535), 2_500_000),
            (tcpPacket(id: 4, from: c, 40100, to: s, 45678, [.ack, .psh], seq: 1001, ack: 5001, window: 262_144,
                       payload: "hello"), 3_000_000),
            (tcpPacket(id: 5, from: s, 45678, to: c, 40100, [.ack], seq: 5001, ack: 1006, window: 131_072), 3_500_000),
            (tcpPacket(id: 6, from: c, 40100, to: s, 45678, [.fin, .ack], seq: 1006, ack: 5001, window: 262_144), 4_000_000),
            (tcpPacket(id: 7, from: s, 45678, to: c, 40100, [.rst], seq: 5001, ack: 0, window: 0), 4_500_000),
        ]
        let writer = try PcapFileWriter(path: path)
        for (packet, time) in packets { try writer.record(packet, at: time) }
        try writer.close()

        let checks = [
            "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
            "-o", "tcp.relative_sequence_numbers:FALSE",
        ]
        let fields = [
            "frame.time_epoch", "frame.protocols", "ip.src", "ip.dst", "ip.id", "ip.ttl", "udp.srcport",
            "udp.dstport", "tcp.srcport", "tcp.dstport", "tcp.flags.str", "tcp.seq", "tcp.ack",
            "tcp.window_size", "tcp.options.mss_val", "tcp.options.wscale.shift", "ip.checksum.status",
            "udp.checksum.status", "tcp.checksum.status", "_ws.expert.severity", "data.data",
        ]
        let output = try run(
            tshark, ["-n", "-r", path] + checks + ["-T", "fields", "-E", "separator=|", "-E", "occurrence=a"]
                + fields.flatMap { ["-e", $0] })
        #expect(output.status == 0, "tshark failed: \(output.text)")
        let rows = output.text.split(separator: "\n").map {
            Dictionary(uniqueKeysWithValues: zip(fields, $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init)))
        }
        try #require(rows.count == packets.count, "tshark printed: \(output.text)")

        for (row, (packet, time)) in zip(rows, packets) {
            let isTCP = packet.transport == .tcp
            #expect(row["frame.time_epoch"] == String(format: "%.9f", Double(time) / 1e9))
            #expect(row["frame.protocols"] == (isTCP ? "eth:ethertype:ip:tcp" : "eth:ethertype:ip:udp")
                + (packet.payload.readableBytes > 0 ? ":data" : ""))
            #expect(row["ip.src"] == packet.source.address.description)
            #expect(row["ip.dst"] == packet.destination.address.description)
            #expect(row["ip.id"] == String(format: "0x%04x", UInt32(packet.id & 0xFFFF)))
            #expect(row["ip.ttl"] == "64")
            #expect(row[isTCP ? "tcp.srcport" : "udp.srcport"] == String(packet.source.port))
            #expect(row[isTCP ? "tcp.dstport" : "udp.dstport"] == String(packet.destination.port))
            // Status 1 is "good": tshark verified the checksum.
            #expect(row["ip.checksum.status"] == "1")
            #expect(row[isTCP ? "tcp.checksum.status" : "udp.checksum.status"] == "1")
            // Only "chat" (2097152) and "note" (4194304) expert items, except the warning every
            // RST earns, checked below.
            for severity in (row["_ws.expert.severity"] ?? "").split(separator: ",")
            where packet.tcp?.flags.contains(.rst) != true {
                #expect(Int(severity) ?? .max <= 4_194_304, "packet \(packet.id) expert severity \(severity)")
            }
            let payloadHex = packet.payload.readableBytesView.map { String(format: "%02x", $0) }.joined()
            #expect(row["data.data"] == payloadHex)
            guard let tcp = packet.tcp else { continue }
            #expect(row["tcp.flags.str"] == flagString(tcp.flags))
            #expect(row["tcp.seq"] == String(tcp.sequence))
            #expect(row["tcp.ack"] == (tcp.flags.contains(.ack) ? String(tcp.acknowledgment) : "0"))
            // tshark multiplies by the scale learnt from both SYNs; SYNs are unscaled.
            #expect(row["tcp.window_size"] == String(tcp.window))
            #expect(row["tcp.options.mss_val"] == (tcp.flags.contains(.syn) ? "1460" : ""))
            #expect(row["tcp.options.wscale.shift"] == (tcp.flags.contains(.syn) ? "7" : ""))
        }

        // Across the file: no malformed frame, no error-level item (bad checksums are errors),
        // and the RST's "Connection reset" is the only warning.
        let errors = try run(
            tshark, ["-n", "-r", path] + checks + ["-Y", "_ws.malformed || _ws.expert.severity >= 8388608"])
        #expect(errors.status == 0)
        #expect(errors.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(errors.text)")
        let warnings = try run(
            tshark, ["-n", "-r", path] + checks + ["-Y", "_ws.expert.severity == 6291456", "-T", "fields",
                "-e", "frame.number", "-e", "tcp.flags.reset", "-E", "occurrence=f"])
        #expect(warnings.text.split(separator: "\n") == ["7\t1"], "\(warnings.text)")
        let expert = try run(tshark, ["-n", "-q", "-r", path] + checks + ["-z", "expert"])
        #expect(expert.status == 0)
        #expect(!expert.text.contains("Malformed"), "\(expert.text)")
        #expect(!expert.text.contains("Errors ("), "\(expert.text)")
        #expect(expert.text.contains("Connection reset (RST)"), "\(expert.text)")
    }

    // MARK: - Helpers

    private func udpPacket(id: UInt64, payload: String) -> Packet {
        Packet(
            id: id, transport: .udp, source: Endpoint(Self.client, 40000), destination: Endpoint(Self.server, 40001),
            payload: ByteBuffer(string: payload), origin: NodeID(0))
    }

    private func tcpPacket(
        id: UInt64, from source: IPv4Address, _ sourcePort: UInt16, to destination: IPv4Address,
        _ destinationPort: UInt16, _ flags: TCPFlags, seq: UInt32, ack: UInt32, window: UInt32, payload: String = ""
    ) -> Packet {
        Packet(
            id: id, transport: .tcp, source: Endpoint(source, sourcePort),
            destination: Endpoint(destination, destinationPort),
            tcp: TCPHeader(flags: flags, sequence: seq, acknowledgment: ack, window: window),
            payload: ByteBuffer(string: payload), origin: NodeID(0))
    }

    /// tshark's `tcp.flags.str`: twelve positions, most significant first, `·` where clear.
    private func flagString(_ flags: TCPFlags) -> String {
        let letters: [(TCPFlags?, Character)] = [
            (nil, "N"), (nil, "C"), (nil, "E"), (nil, "U"), (.ack, "A"), (.psh, "P"), (.rst, "R"), (.syn, "S"),
            (.fin, "F"),
        ]
        return "···" + String(letters.map { flag, letter in flag.map { flags.contains($0) } == true ? letter : "·" })
    }

    /// RFC 1071 checksum, written independently of the encoder.
    private func internetChecksum(_ bytes: [UInt8]) -> UInt16 {
        var sum = 0
        for index in stride(from: 0, to: bytes.count, by: 2) {
            sum += Int(bytes[index]) << 8 + (index + 1 < bytes.count ? Int(bytes[index + 1]) : 0)
        }
        while sum > 0xFFFF { sum = sum & 0xFFFF + sum >> 16 }
        return UInt16(0xFFFF - sum)
    }

    private func ipHeaderChecksumVerifies(_ frame: [UInt8]) -> Bool {
        internetChecksum(Array(frame[14..<34])) == 0
    }

    /// Sums pseudo-header + segment including the stored checksum: valid data sums to zero.
    private func transportChecksumVerifies(_ frame: [UInt8]) -> Bool {
        let segment = Array(frame[34...])
        let pseudoHeader = Array(frame[26..<34]) + [0, frame[23], UInt8(segment.count >> 8), UInt8(segment.count & 0xFF)]
        return internetChecksum(pseudoHeader + segment) == 0
    }

    private func temporaryPath(_ name: String) -> String {
        "\(NSTemporaryDirectory())/edgemesh-\(name)-\(getpid())-\(UInt64.random(in: 0 ... .max)).pcap"
    }
}

/// Runs a tool with its output in a file (no pipe to fill up) and a 60-second bound.
private func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, text: String) {
    let outputPath = "\(NSTemporaryDirectory())/edgemesh-tool-\(UInt64.random(in: 0 ... .max)).txt"
    #expect(FileManager.default.createFile(atPath: outputPath, contents: nil))
    defer { unlink(outputPath) }
    let output = try #require(FileHandle(forWritingAtPath: outputPath))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice  // tshark warns about running as root there
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    try process.run()
    if finished.wait(timeout: .now() + 60) == .timedOut {
        process.terminate()
        Issue.record("\(executable) \(arguments.joined(separator: " ")) did not finish within 60 s")
        return (-1, "")
    }
    try output.close()
    let text = String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self)
    return (process.terminationStatus, text)
}
