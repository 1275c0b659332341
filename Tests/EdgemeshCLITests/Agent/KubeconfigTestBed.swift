import Foundation
#if canImport(Glibc)
import Glibc
#endif
import LinuxBackend
import Logging
import Mesh
import NIOCore
import NIOPosix
@testable import Scenario

/// The test API server on 127.0.0.1 (demanding a bearer token), a kubeconfig naming it, and the
/// real `edgemesh agent --kubeconfig` started against it.
final class KubeconfigTestBed {
    static let token = "node-token"

    let directory: URL
    let group: MultiThreadedEventLoopGroup
    let loop: EventLoop
    let server: KubernetesTestAPIServer
    let kubeconfig: URL

    init() throws {
        directory = try EdgemeshProcess.temporaryDirectory()
        group = LinuxEventLoops.makeGroup()
        loop = group.next()
        let host = LinuxHost(
            name: "api", eventLoop: loop, storeDirectory: directory.appendingPathComponent("api-state").path,
            interception: NoInterception(eventLoop: loop), logger: Logger(label: "edgemesh.test.api"))
        server = KubernetesTestAPIServer(
            host: host, configuration: .init(address: .loopback, port: 0, bookmarkInterval: .milliseconds(500), requiredBearerToken: Self.token))
        let server = self.server
        let apiPort = try loop.flatSubmit { server.start() }.wait().localAddress!.port!
        kubeconfig = directory.appendingPathComponent("kubeconfig")
        try """
            apiVersion: v1
            kind: Config
            current-context: edge
            contexts: [{name: edge, context: {cluster: local, user: node}}]
            clusters: [{name: local, cluster: {server: "http://127.0.0.1:\(apiPort)"}}]
            users: [{name: node, user: {token: \(Self.token)}}]
            """.write(to: kubeconfig, atomically: true, encoding: .utf8)
    }

    /// Runs `body` on the server's loop (the server is confined to it).
    func withServer<T: Sendable>(_ body: @escaping @Sendable (KubernetesTestAPIServer) throws -> T) throws -> T {
        let server = self.server
        return try loop.submit { try body(server) }.wait()
    }

    /// Starts `edgemesh agent --kubeconfig` for node `edge-1` with DNS on 127.0.0.1 and `extra`
    /// arguments; returns the process and its DNS port.
    func startAgent(_ extra: [String] = []) throws -> (agent: Process, dnsPort: Int) {
        let dnsPort = try StatusCommandTests.freeTCPPort()
        let agent = Process()
        agent.executableURL = EdgemeshProcess.binary
        agent.arguments = [
            "agent", "--node-name", "edge-1", "--kubeconfig", kubeconfig.path, "--listen-ip", "127.0.0.1",
            "--dns-port", String(dnsPort), "--state-dir", directory.appendingPathComponent("state").path, "--upstream-dns", "127.0.0.1:9",
        ] + extra
        agent.standardOutput = FileHandle.nullDevice
        agent.standardError = FileHandle.nullDevice
        try agent.run()
        return (agent, dnsPort)
    }

    /// Polls `condition` every 100 ms for up to `seconds` (a real process on a loaded machine).
    func wait(seconds: TimeInterval = 30, until condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return try condition()
    }

    func tearDown() {
        let server = self.server
        _ = try? loop.submit { server.stop() }.wait()
        try? LinuxEventLoops.syncShutdown(group)
        try? FileManager.default.removeItem(at: directory)
    }
}

private struct NoInterception: TrafficInterception {
    let eventLoop: EventLoop

    func apply(_ rules: [InterceptionRule]) -> EventLoopFuture<Void> {
        eventLoop.makeFailedFuture(HostError.unsupported("interception in the test API server's host"))
    }

    func removeAll() -> EventLoopFuture<Void> { eventLoop.makeSucceededVoidFuture() }
}
