import Foundation
import Glibc
import LinuxBackend
import Mesh
import NIOCore
import NIOPosix
import Testing

/// `edgemesh capture`'s tap: packets as their sender wrote them, before the agent's redirect.
@Suite("PacketLogTap")
struct PacketLogTapTests {
    @Test("a datagram to a cluster IP is logged with the cluster IP, though the redirect sends it to a local port",
          .enabled(if: NamespaceSupport.available, NamespaceSupport.comment))
    func logsBeforeTheRedirect() throws {
        try TestNamespace.with { namespace in
            try namespace.exec(NamespaceSupport.ip, "link", "set", "lo", "up")
            try namespace.exec(NamespaceSupport.ip, "route", "add", "10.96.0.0/12", "dev", "lo", "src", "127.0.0.1")
            let interception = try namespace.run { NftablesInterception(eventLoop: NftablesInterceptionTests.loop) }
            try interception.apply([
                InterceptionRule(transport: .udp, serviceAddress: IPv4Address(10, 96, 0, 53), servicePort: 53, localPort: 15053),
            ]).wait()
            let path = NSTemporaryDirectory() + "nflog-\(UInt32.random(in: 0...UInt32.max)).pcap"
            defer { try? FileManager.default.removeItem(atPath: path) }

            let frames = try namespace.run { () throws -> [[UInt8]] in
                let tap = try PacketLogTap(group: 42)
                let capture = try LivePacketCapture(interface: "nflog:42", path: path)
                try capture.start()
                let sent = Self.sendDatagram(to: "10.96.0.53", port: 53, payload: Array("field".utf8))
                // The kernel hands nflog packets over in batches at least once a second.
                usleep(1_500_000)
                try capture.stop()
                try tap.remove()
                guard sent else { throw TestFailure(description: "sendto failed: errno \(errno)") }
                return try LivePacketCapture.readRecords(path: path).map(\.bytes)
            }

            let packets = frames.compactMap(PacketLogTap.packet(fromNFLOGFrame:))
            // Logged once, on the way out, still addressed to the cluster IP; not again on lo,
            // where it arrives redirected to the local port. The answer (the ICMP port
            // unreachable of the closed local port) is logged going out, from the cluster IP.
            #expect(packets.count == 2, "\(packets.map { $0.prefix(20) })")
            let datagram = try #require(packets.first)
            #expect(Array(datagram[16..<20]) == [10, 96, 0, 53])
            #expect(datagram[9] == 17 && datagram[22] == 0 && datagram[23] == 53 && Array(datagram[28...]) == Array("field".utf8))
            #expect(packets.allSatisfy { !($0[9] == 17 && Array($0[16..<20]) == [127, 0, 0, 1]) })
            // Removed with its table; the agent's own is untouched.
            #expect(try namespace.listRuleset().tables == ["ip edgemesh"])
        }
    }

    @Test("a frame without a payload attribute, or cut short, gives no packet")
    func malformedFrames() {
        // Header, then a 8-byte prefix attribute (type 10), then a payload attribute (type 9).
        let prefix: [UInt8] = [8, 0, 10, 0, 0x41, 0x42, 0, 0]
        let payload: [UInt8] = [8, 0, 9, 0, 0x45, 1, 2, 3]
        #expect(PacketLogTap.packet(fromNFLOGFrame: [2, 0, 0, 42] + prefix + payload) == [0x45, 1, 2, 3])
        #expect(PacketLogTap.packet(fromNFLOGFrame: [2, 0, 0, 42] + prefix) == nil)
        #expect(PacketLogTap.packet(fromNFLOGFrame: [2, 0, 0, 42] + [200, 0, 9, 0, 1, 2]) == nil)
        #expect(PacketLogTap.packet(fromNFLOGFrame: [2, 0, 0, 42] + [2, 0, 9, 0]) == nil)
        #expect(PacketLogTap.packet(fromNFLOGFrame: []) == nil)
    }

    private static func sendDatagram(to address: String, port: UInt16, payload: [UInt8]) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var destination = sockaddr_in()
        destination.sin_family = sa_family_t(AF_INET)
        destination.sin_port = port.bigEndian
        inet_pton(AF_INET, address, &destination.sin_addr)
        let sent = withUnsafePointer(to: &destination) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(descriptor, payload, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return sent == payload.count
    }
}
