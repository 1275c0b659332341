import Foundation
#if canImport(Glibc)
import Glibc
#endif
import LinuxBackend
import Logging
import Mesh
import NIOCore
import NIOPosix
import Testing

/// `edgemesh agent --kubeconfig FILE`: the real binary list-watches a Kubernetes API server
/// (the test server on 127.0.0.1, demanding the kubeconfig user's token), answers DNS for what
/// it lists, follows a change, and stops cleanly on SIGTERM.
@Suite struct AgentConfigKubeconfigTests {
    @Test func theAgentFollowsTheAPIServerNamedByAKubeconfig() throws {
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let group = LinuxEventLoops.makeGroup()
        defer { try? LinuxEventLoops.syncShutdown(group) }
        let loop = group.next()
        let host = LinuxHost(
            name: "api", eventLoop: loop, storeDirectory: directory.appendingPathComponent("api-state").path,
            interception: NoInterception(eventLoop: loop), logger: Logger(label: "edgemesh.test.api"))
        let server = KubernetesTestAPIServer(
            host: host, configuration: .init(address: .loopback, port: 0, bookmarkInterval: .milliseconds(500), requiredBearerToken: "node-token"))
        let apiPort = try loop.flatSubmit { server.start() }.wait().localAddress!.port!
        defer { _ = try? loop.submit { server.stop() }.wait() }
        try loop.submit {
            try server.create(.services, json: Array(#"{"metadata":{"name":"web","namespace":"default"},"spec":{"clusterIP":"10.96.0.5","ports":[{"name":"http","port":80}]}}"#.utf8))
        }.wait()

        let kubeconfig = directory.appendingPathComponent("kubeconfig")
        try """
            apiVersion: v1
            kind: Config
            current-context: edge
            contexts: [{name: edge, context: {cluster: local, user: node}}]
            clusters: [{name: local, cluster: {server: "http://127.0.0.1:\(apiPort)"}}]
            users: [{name: node, user: {token: node-token}}]
            """.write(to: kubeconfig, atomically: true, encoding: .utf8)

        // A free port: bind one, note it, let it go.
        let probe = try DatagramBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        let dnsPort = probe.localAddress!.port!
        try probe.close().wait()

        let agent = Process()
        agent.executableURL = EdgemeshProcess.binary
        agent.arguments = [
            "agent", "--node-name", "edge-1", "--kubeconfig", kubeconfig.path, "--listen-ip", "127.0.0.1",
            "--dns-port", String(dnsPort), "--state-dir", directory.appendingPathComponent("state").path, "--upstream-dns", "127.0.0.1:9",
        ]
        agent.standardOutput = FileHandle.nullDevice
        agent.standardError = FileHandle.nullDevice
        try agent.run()
        var exited = false
        defer {
            if !exited {
                kill(agent.processIdentifier, SIGKILL)
                agent.waitUntilExit()
            }
        }

        #expect(AgentCommandTests.waitForAnswer("web.default.svc.cluster.local", ["10.96.0.5"], port: dnsPort),
            "the service listed from the API server is served")
        try loop.submit {
            try server.create(.services, json: Array(#"{"metadata":{"name":"db","namespace":"data"},"spec":{"clusterIP":"10.96.0.6"}}"#.utf8))
        }.wait()
        #expect(AgentCommandTests.waitForAnswer("db.data.svc.cluster.local", ["10.96.0.6"], port: dnsPort),
            "a service created afterwards arrives through the watch")
        let authorized = try loop.submit { server.requests.allSatisfy { $0.headers["Authorization"] == ["Bearer node-token"] } }.wait()
        #expect(authorized, "every request carries the kubeconfig user's token")

        kill(agent.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(20)
        while agent.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        exited = !agent.isRunning
        #expect(exited, "the agent stops within 20 s of SIGTERM")
        if exited {
            agent.waitUntilExit()
            #expect(agent.terminationReason == .exit && agent.terminationStatus == 0)
        }
    }
}

private struct NoInterception: TrafficInterception {
    let eventLoop: EventLoop

    func apply(_ rules: [InterceptionRule]) -> EventLoopFuture<Void> {
        eventLoop.makeFailedFuture(HostError.unsupported("interception in AgentConfigKubeconfigTests"))
    }

    func removeAll() -> EventLoopFuture<Void> { eventLoop.makeSucceededVoidFuture() }
}
