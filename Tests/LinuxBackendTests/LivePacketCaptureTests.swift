import Foundation
import Glibc
import Testing

@testable import LinuxBackend

private let isRoot = geteuid() == 0

@Suite struct LivePacketCaptureTests {
    /// Captures on the host's `lo` with a filter for a port only this test uses, so traffic
    /// from anything else on the machine (or parallel tests) cannot enter the file.
    @Test(.enabled(if: isRoot && tsharkPath != nil, "capturing needs root (CAP_NET_RAW) and tshark checks the file (scripts/install-deps)"))
    func capturesLoopbackDatagramsIntoAPcapFile() throws {
        let receiver = try UDPSocket()
        defer { receiver.close() }
        try receiver.bindLoopback()
        let port = try receiver.localPort()
        let path = temporaryPath("live")
        defer { unlink(path) }

        let capture = try LivePacketCapture(interface: "lo", path: path, filter: "udp and dst port \(port)")
        #expect(capture.linkType == 1)  // Linux's lo is an Ethernet-type device
        let before = wallClockNanoseconds()
        try capture.start()
        #expect(throws: LivePacketCaptureError.alreadyStarted(interface: "lo")) { try capture.start() }

        let sender = try UDPSocket()
        defer { sender.close() }
        let payloads = (0..<20).map { Array("edgemesh-capture-\($0)".utf8) }
        for payload in payloads { try sender.send(payload, toLoopbackPort: port) }
        // Receiving every datagram proves the stack has passed each one by the capture tap,
        // so stop() has nothing left to wait for.
        for payload in payloads { #expect(try receiver.receive() == payload) }

        let summary = try capture.stop()
        let after = wallClockNanoseconds()
        #expect(summary.framesWritten == payloads.count)
        #expect(summary.droppedByKernel == 0)
        #expect(throws: LivePacketCaptureError.alreadyStopped(interface: "lo")) { try capture.stop() }

        // Same file header as NetSim's PcapFileWriter: nanosecond magic, version 2.4, Ethernet.
        let header = try #require(FileManager.default.contents(atPath: path)).prefix(24).map { $0 }
        #expect(Array(header[0..<8]) == [0x4D, 0x3C, 0xB2, 0xA1, 0x02, 0x00, 0x04, 0x00])
        #expect(Array(header[20..<24]) == [0x01, 0x00, 0x00, 0x00])

        let frames = try LivePacketCapture.readRecords(path: path)
        try #require(frames.count == payloads.count)
        var previous: UInt64 = 0
        for (frame, payload) in zip(frames, payloads) {
            let bytes = frame.bytes
            #expect(frame.linkType == 1)
            #expect(frame.originalLength == bytes.count)
            #expect(Array(bytes[12..<14]) == [0x08, 0x00])  // IPv4
            #expect(bytes[23] == 17)  // UDP
            #expect(Array(bytes[26..<34]) == [127, 0, 0, 1, 127, 0, 0, 1])
            #expect(UInt16(bytes[36]) << 8 | UInt16(bytes[37]) == port)
            #expect(Array(bytes[42...]) == payload)
            #expect(frame.timestampNanoseconds >= before && frame.timestampNanoseconds <= after)
            #expect(frame.timestampNanoseconds >= previous)
            previous = frame.timestampNanoseconds
        }

        let tshark = try #require(tsharkPath)
        let output = try run(tshark, ["-n", "-r", path, "-T", "fields", "-e", "udp.dstport", "-e", "data.data"])
        let expected = payloads.map { "\(port)\t" + $0.map { String(format: "%02x", $0) }.joined() }
        #expect(output.split(separator: "\n").map(String.init) == expected)
        let malformed = try run(tshark, ["-n", "-r", path, "-Y", "_ws.malformed"])
        #expect(malformed.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(malformed)")
    }

    @Test(.enabled(if: isRoot, "opening an interface needs root (CAP_NET_RAW)"))
    func rejectsAnInvalidFilterNamingIt() throws {
        let path = temporaryPath("filter")
        defer { unlink(path) }
        do {
            _ = try LivePacketCapture(interface: "lo", path: path, filter: "udp and port banana")
            Issue.record("the filter should not compile")
        } catch {
            guard case .invalidFilter(let interface, let filter, let reason) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(interface == "lo")
            #expect(filter == "udp and port banana")
            #expect(!reason.isEmpty)
        }
    }

    /// Runs as any user: without root activation fails with a permission error, as root with
    /// "no such device"; either way the error names the interface and carries pcap's text.
    @Test func reportsAnUnknownInterfaceByName() throws {
        let name = "emnone\(UInt16.random(in: 0 ... .max))"
        do {
            _ = try LivePacketCapture(interface: name, path: temporaryPath("none"))
            Issue.record("capturing on \(name) should fail")
        } catch {
            guard case .cannotOpenInterface(let interface, let reason) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(interface == name)
            #expect(!reason.isEmpty)
            #expect(error.description.contains(name))
        }
    }

    /// A file laid out byte by byte as NetSim's writer lays it out reads back exactly.
    @Test func readsANanosecondPcapFile() throws {
        let path = temporaryPath("offline")
        defer { unlink(path) }
        let frame: [UInt8] = Array(0..<60)
        var file: [UInt8] = [
            0x4D, 0x3C, 0xB2, 0xA1, 0x02, 0x00, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
            0xFF, 0xFF, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        ]
        for (seconds, nanoseconds) in [(1, 500_000_001), (2, 999_999_999)] as [(UInt32, UInt32)] {
            file += littleEndian(seconds) + littleEndian(nanoseconds)
            file += littleEndian(UInt32(frame.count)) + littleEndian(UInt32(frame.count + 40))
            file += frame
        }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(file)))
        let records = try LivePacketCapture.readRecords(path: path)
        #expect(
            records == [
                CapturedFrame(timestampNanoseconds: 1_500_000_001, originalLength: 100, bytes: frame, linkType: 1),
                CapturedFrame(timestampNanoseconds: 2_999_999_999, originalLength: 100, bytes: frame, linkType: 1),
            ])

        let missing = path + ".missing"
        do {
            _ = try LivePacketCapture.readRecords(path: missing)
            Issue.record("reading \(missing) should fail")
        } catch {
            guard case .cannotReadFile(let errorPath, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(errorPath == missing)
        }
    }
}

// MARK: - Helpers

private let tsharkPath: String? = {
    let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
    return directories.map { "\($0)/tshark" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

private func littleEndian(_ value: UInt32) -> [UInt8] {
    (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
}

private func temporaryPath(_ name: String) -> String {
    "\(NSTemporaryDirectory())/edgemesh-\(name)-\(getpid())-\(UInt64.random(in: 0 ... .max)).pcap"
}

private func wallClockNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

private struct SocketError: Error, CustomStringConvertible {
    var description: String
    init(_ operation: String) { description = "\(operation): \(String(cString: strerror(errno)))" }
}

/// A plain blocking UDP socket on 127.0.0.1 whose reads give up after 5 seconds.
private struct UDPSocket {
    let descriptor: Int32

    init() throws {
        descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { throw SocketError("socket") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        guard setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0
        else { throw SocketError("setsockopt(SO_RCVTIMEO)") }
    }

    func bindLoopback() throws {
        var address = Self.loopback(port: 0)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else { throw SocketError("bind") }
    }

    func localPort() throws -> UInt16 {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard result == 0 else { throw SocketError("getsockname") }
        return UInt16(bigEndian: address.sin_port)
    }

    func send(_ bytes: [UInt8], toLoopbackPort port: UInt16) throws {
        var address = Self.loopback(port: port)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(descriptor, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard sent == bytes.count else { throw SocketError("sendto") }
    }

    func receive() throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 2048)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        guard count >= 0 else { throw SocketError("recv (5 s timeout)") }
        return Array(buffer[..<count])
    }

    func close() { _ = Glibc.close(descriptor) }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}

/// Runs a tool with its output in a file (no pipe to fill up) and a 60-second bound.
private func run(_ executable: String, _ arguments: [String]) throws -> String {
    let outputPath = "\(NSTemporaryDirectory())/edgemesh-tool-\(UInt64.random(in: 0 ... .max)).txt"
    #expect(FileManager.default.createFile(atPath: outputPath, contents: nil))
    defer { unlink(outputPath) }
    let output = try #require(FileHandle(forWritingAtPath: outputPath))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    try process.run()
    if finished.wait(timeout: .now() + 60) == .timedOut {
        process.terminate()
        Issue.record("\(executable) \(arguments.joined(separator: " ")) did not finish within 60 s")
        return ""
    }
    try output.close()
    #expect(process.terminationStatus == 0, "\(executable) exited with \(process.terminationStatus)")
    return String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self)
}
