import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Mesh
import NIOCore
import NIOPosix
import Testing

/// `edgemesh agent --manifests DIR` as an operator runs it: the real binary answers DNS for the
/// services in the directory and follows changes to it.
@Suite struct AgentCommandTests {
    /// Asks 127.0.0.1:`port` for the A records of `name` over UDP with a plain socket, giving up
    /// after half a second.
    static func queryA(_ name: String, port: Int) -> [String] {
        guard let question = try? DNSName(name) else { return [] }
        var bytes = ByteBuffer()
        DNSMessage(header: DNSHeader(id: 0x4242, isRecursionDesired: true), questions: [DNSQuestion(name: question, type: .a)])
            .encode(into: &bytes)
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 0, tv_usec: 500_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        let query = Array(bytes.readableBytesView)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, query, query.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard sent == query.count else { return [] }
        var reply = [UInt8](repeating: 0, count: 1500)
        let received = recv(fd, &reply, reply.count, 0)
        guard received > 0, let response = try? DNSMessage(decoding: ByteBuffer(bytes: reply[0..<received])) else { return [] }
        return response.answers.compactMap { record in
            if case .a(let address) = record.data { return address.description }
            return nil
        }
    }

    /// Polls until `name` resolves to `expected`, for at most 30 s (the agent is starting up or
    /// noticing a file).
    static func waitForAnswer(_ name: String, _ expected: [String], port: Int) -> Bool {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if queryA(name, port: port) == expected { return true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return false
    }

    static func service(_ name: String, clusterIP: String) -> String {
        """
        apiVersion: v1
        kind: Service
        metadata: {name: \(name), namespace: default}
        spec:
          clusterIP: \(clusterIP)
          ports: [{name: http, port: 80, targetPort: 8080}]
        """
    }

    @Test func answersForManifestServicesAndFollowsTheDirectory() throws {
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let manifests = directory.appendingPathComponent("manifests")
        try FileManager.default.createDirectory(at: manifests, withIntermediateDirectories: true)
        try Self.service("web", clusterIP: "10.96.0.50").write(to: manifests.appendingPathComponent("web.yaml"), atomically: true, encoding: .utf8)
        try "kind: [broken".write(to: manifests.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        // A free port: bind one, note it, let it go.
        let probe = try DatagramBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        let port = probe.localAddress!.port!
        try probe.close().wait()

        let agent = Process()
        agent.executableURL = EdgemeshProcess.binary
        agent.arguments = [
            "agent", "--node-name", "edge-1", "--manifests", manifests.path, "--listen-ip", "127.0.0.1",
            "--dns-port", String(port), "--state-dir", directory.appendingPathComponent("state").path,
        ]
        agent.standardOutput = FileHandle.nullDevice
        agent.standardError = FileHandle.nullDevice
        try agent.run()
        // SIGTERM, so the agent removes the nftables table it installed in this namespace.
        defer { EdgemeshProcess.stop(agent) }

        #expect(Self.waitForAnswer("web.default.svc.cluster.local", ["10.96.0.50"], port: port),
            "a malformed manifest beside it does not stop the good one")
        try Self.service("api", clusterIP: "10.96.0.51").write(to: manifests.appendingPathComponent("api.yaml"), atomically: true, encoding: .utf8)
        #expect(Self.waitForAnswer("api.default.svc.cluster.local", ["10.96.0.51"], port: port),
            "a manifest added while the agent runs is served")
        #expect(Self.queryA("missing.default.svc.cluster.local", port: port).isEmpty)
        #expect(agent.isRunning)
    }
}
