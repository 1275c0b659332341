import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Mesh
import NIOCore
import Testing

/// `edgemesh agent --kubeconfig FILE`: the real binary list-watches a Kubernetes API server
/// (the test server on 127.0.0.1, demanding the kubeconfig user's token), answers DNS for what
/// it lists, follows a change, publishes its tunnel key on its Node, and stops cleanly on SIGTERM.
// Serialized: both agents install the nftables table `edgemesh` in this namespace.
@Suite(.serialized) struct AgentConfigKubeconfigTests {
    @Test func theAgentFollowsTheAPIServerNamedByAKubeconfig() throws {
        let bed = try KubeconfigTestBed()
        defer { bed.tearDown() }
        try bed.withServer {
            try $0.create(.services, json: Array(#"{"metadata":{"name":"web","namespace":"default"},"spec":{"clusterIP":"10.96.0.5","ports":[{"name":"http","port":80}]}}"#.utf8))
        }
        let (agent, dnsPort) = try bed.startAgent()
        var exited = false
        defer {
            if !exited {
                kill(agent.processIdentifier, SIGKILL)
                agent.waitUntilExit()
            }
        }

        #expect(AgentCommandTests.waitForAnswer("web.default.svc.cluster.local", ["10.96.0.5"], port: dnsPort),
            "the service listed from the API server is served")
        try bed.withServer {
            try $0.create(.services, json: Array(#"{"metadata":{"name":"db","namespace":"data"},"spec":{"clusterIP":"10.96.0.6"}}"#.utf8))
        }
        #expect(AgentCommandTests.waitForAnswer("db.data.svc.cluster.local", ["10.96.0.6"], port: dnsPort),
            "a service created afterwards arrives through the watch")
        let authorized = try bed.withServer { $0.requests.allSatisfy { $0.headers["Authorization"] == ["Bearer \(KubeconfigTestBed.token)"] } }
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

    /// With a PSK the tunnel runs, and the agent patches its own Node (the kubelet registered
    /// it) with its key; when someone strips the annotation, the agent puts it back.
    @Test func theAgentPublishesItsTunnelKeyOnItsOwnNode() throws {
        let bed = try KubeconfigTestBed()
        defer { bed.tearDown() }
        try bed.withServer {
            try $0.create(.nodes, json: Array(#"{"metadata":{"name":"edge-1","annotations":{"team":"edge"}},"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"}]}}"#.utf8))
        }
        let psk = bed.directory.appendingPathComponent("psk")
        try "a cluster secret\n".write(to: psk, atomically: true, encoding: .utf8)
        let statusPort = try StatusCommandTests.freeTCPPort()
        let (agent, _) = try bed.startAgent([
            "--psk-file", psk.path, "--tunnel-port", String(try StatusCommandTests.freeTCPPort()),
            "--status-address", "127.0.0.1:\(statusPort)",
        ])
        defer { EdgemeshProcess.stop(agent) }

        func storedKey() throws -> String? {
            try bed.withServer { server in
                guard let stored = server.objects(of: .nodes).first(where: { $0.key.name == "edge-1" }) else { return nil }
                return (try? KubernetesDecoder.decode(Node.self, json: stored.json))?.metadata.annotations[tunnelPublicKeyAnnotation]
            }
        }
        #expect(try bed.wait { try storedKey() != nil }, "the agent published its key within 30 s")
        let key = try #require(try storedKey())
        #expect(TunnelPublicKeyText.decode(key)?.count == 32, "\(key) is a base64 X25519 public key")
        let patches = try bed.withServer { $0.requests.filter { $0.method == .PATCH } }
        #expect(patches.first?.uri == "/api/v1/nodes/edge-1")
        #expect(patches.first?.headers.first(name: "Content-Type") == "application/merge-patch+json")
        #expect(patches.allSatisfy { $0.headers["Authorization"] == ["Bearer \(KubeconfigTestBed.token)"] })

        #expect(try bed.wait {
            try EdgemeshProcess.run(["status", "--agent", "127.0.0.1:\(statusPort)"]).output.contains("tunnel key: published")
        }, "edgemesh status says the key is published")

        // Someone strips the annotation: the agent's watch sees it and the same key goes back.
        try bed.withServer { try $0.patch(.nodes, namespace: nil, name: "edge-1", json: Array(#"{"metadata":{"annotations":{"\#(tunnelPublicKeyAnnotation)":null}}}"#.utf8)) }
        #expect(try bed.wait { try storedKey() == key }, "the agent re-published its key after the edit")
        let team = try bed.withServer { server in
            server.objects(of: .nodes).first.map { String(decoding: $0.json, as: UTF8.self).contains(#""team":"edge""#) } ?? false
        }
        #expect(team, "the agent's patches leave other annotations alone")
    }
}
