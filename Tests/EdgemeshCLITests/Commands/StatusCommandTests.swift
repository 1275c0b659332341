import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import Testing

/// `edgemesh status` against a running agent, and against none.
@Suite struct StatusCommandTests {
    static func freeTCPPort() throws -> Int {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let probe = try ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? probe.close().wait() }
        return probe.localAddress!.port!
    }

    @Test func statusDescribesTheRunningAgent() throws {
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let manifests = directory.appendingPathComponent("manifests")
        try FileManager.default.createDirectory(at: manifests, withIntermediateDirectories: true)
        try AgentCommandTests.service("web", clusterIP: "10.96.0.50")
            .write(to: manifests.appendingPathComponent("web.yaml"), atomically: true, encoding: .utf8)
        let statusPort = try Self.freeTCPPort()
        let dnsPort = try Self.freeTCPPort()

        let agent = Process()
        agent.executableURL = EdgemeshProcess.binary
        agent.arguments = [
            "agent", "--node-name", "edge-7", "--manifests", manifests.path, "--listen-ip", "127.0.0.1",
            "--dns-port", String(dnsPort), "--state-dir", directory.appendingPathComponent("state").path,
            "--status-address", "127.0.0.1:\(statusPort)",
        ]
        agent.standardOutput = FileHandle.nullDevice
        agent.standardError = FileHandle.nullDevice
        try agent.run()
        // SIGTERM, so the agent removes the nftables table it installed in this namespace.
        defer { EdgemeshProcess.stop(agent) }
        #expect(AgentCommandTests.waitForAnswer("web.default.svc.cluster.local", ["10.96.0.50"], port: dnsPort))

        let status = try EdgemeshProcess.run(["status", "--agent", "127.0.0.1:\(statusPort)"])
        #expect(status.status == 0, "\(status.errors)")
        #expect(status.output.contains("node edge-7"))
        #expect(status.output.contains("source: manifests"))
        #expect(status.output.contains("table: revision 1; 1 Service"))
        #expect(status.output.contains("dns on 127.0.0.1:\(dnsPort): "), "\(status.output)")
        #expect(status.output.contains("(NOERROR "), "the lookups that found web were counted: \(status.output)")
    }

    @Test func statusWithoutAnAgentSaysWhatToCheck() throws {
        let port = try Self.freeTCPPort()
        let status = try EdgemeshProcess.run(["status", "--agent", "127.0.0.1:\(port)"])
        #expect(status.status == 1)
        #expect(status.errors.contains("cannot reach the agent at 127.0.0.1:\(port)"))
        #expect(status.errors.contains("--status-address 127.0.0.1:\(port)"))
    }
}
