import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// `edgemesh agent --node-name N --manifests DIR` alone intercepts and proxies cluster-IP
/// traffic: the real binary in a network namespace, real nftables, curl and Python clients,
/// Python backends.
@Suite(.serialized) struct AgentProxyTests {
    typealias Namespace = NamespaceTestBed

    static func service(_ name: String, _ clusterIP: String, port: Int, targetPort: Int, udp: Bool = false) -> String {
        """
        apiVersion: v1
        kind: Service
        metadata: {name: \(name), namespace: default}
        spec:
          clusterIP: \(clusterIP)
          ports: [{name: p, port: \(port), targetPort: \(targetPort), protocol: \(udp ? "UDP" : "TCP")}]
        ---
        apiVersion: v1
        kind: Endpoints
        metadata: {name: \(name), namespace: default}
        subsets:
        - addresses: [{ip: \(Namespace.podAddress), nodeName: node-a}]
          ports: [{name: p, port: \(targetPort), protocol: \(udp ? "UDP" : "TCP")}]
        """
    }

    static let udpEchoServer = """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("\(Namespace.podAddress)", 5001))
        while True:
            data, peer = s.recvfrom(65535)
            s.sendto(data, peer)
        """

    /// Sends datagrams of several sizes on a socket connected to the service (so only replies
    /// that seem to come from the service address are accepted) and prints the reply sizes.
    static let udpClient = """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.connect(("10.96.0.61", 5000))
        sizes = []
        for size in (1, 1000, 3, 1400):
            s.send(bytes([size % 256]) * size)
            sizes.append(len(s.recv(65535)))
        print(",".join(map(str, sizes)))
        """

    static let webSocketServer = """
        import asyncio, websockets
        async def echo(ws, path=None):
            async for message in ws:
                await ws.send(message)
        async def main():
            async with websockets.serve(echo, "\(Namespace.podAddress)", 8765):
                await asyncio.Future()
        asyncio.run(main())
        """

    static let webSocketClient = """
        import asyncio, websockets
        async def main():
            async with websockets.connect("ws://10.96.0.62/", open_timeout=2) as ws:
                await ws.send("through the mesh")
                print(await asyncio.wait_for(ws.recv(), 2))
        asyncio.run(main())
        """

    static func curl(_ namespace: Namespace, _ url: String) -> String? {
        guard let result = try? namespace.run(["/usr/bin/curl", "-s", "--max-time", "2", url]), result.status == 0
        else { return nil }
        return result.output
    }

    @Test(.enabled(if: Namespace.isAvailable(pythonModules: ["websockets"]),
                   "needs root, iproute2, curl, nft and python3 with websockets (scripts/install-deps)"))
    func interceptsProxiesAndRecoversFromAKill() throws {
        let namespace = try Namespace()
        defer { namespace.tearDown() }
        let workspace = try AgentWorkspace(index: "hello from the backend\n")
        defer { workspace.remove() }
        let directory = workspace.directory, manifests = workspace.manifests, www = workspace.www
        let files = [
            "web.yaml": Self.service("web", "10.96.0.60", port: 80, targetPort: 8080),
            "udp-echo.yaml": Self.service("udp-echo", "10.96.0.61", port: 5000, targetPort: 5001, udp: true),
            "ws.yaml": Self.service("ws", "10.96.0.62", port: 80, targetPort: 8765),
            "dead.yaml": Self.service("dead", "10.96.0.64", port: 80, targetPort: 8099),
        ]
        for (name, text) in files { try text.write(to: manifests.appendingPathComponent(name), atomically: true, encoding: .utf8) }

        try namespace.start([Namespace.python, "-m", "http.server", "8080", "--bind", Namespace.podAddress, "--directory", www.path])
        try namespace.start([Namespace.python, "-c", Self.udpEchoServer])
        let agentArguments = [
            EdgemeshProcess.binary.path, "agent", "--node-name", "node-a", "--manifests", manifests.path,
            "--state-dir", directory.appendingPathComponent("state").path,
        ]
        var agent = try namespace.start(agentArguments, log: directory.appendingPathComponent("agent.log"))

        let expected = "hello from the backend\n"
        #expect(Namespace.eventually { Self.curl(namespace, "http://10.96.0.60/") == expected },
                "curl to the cluster IP reaches the backend")
        #expect(Self.curl(namespace, "http://web.default.svc.cluster.local/") == expected,
                "curl to the service name (the agent's DNS, then its proxy) reaches the backend")
        #expect(try namespace.run([Namespace.python, "-c", Self.udpClient]).output == "1,1000,3,1400\n",
                "each datagram comes back whole, from the service address")
        let flows = try namespace.run([EdgemeshProcess.binary.path, "flows"])
        #expect(flows.status == 0 && flows.output.contains(" tcp default/web:p ") && flows.output.contains(" udp default/udp-echo:p ")
                    && flows.output.contains("-> \(Namespace.podAddress):8080 on node-a: local"),
                "edgemesh flows lists each connection and UDP session with its backend and path: \(flows.output)")

        try namespace.start([Namespace.python, "-c", Self.webSocketServer])
        #expect(Namespace.eventually(within: 10) {
            (try? namespace.run([Namespace.python, "-c", Self.webSocketClient]).output) == "through the mesh\n"
        }, "a WebSocket echoes through the proxy")

        // Nothing listens behind `dead`: curl must fail on a reset, not report "Empty reply from
        // server" (52) as it does after a graceful close. The reset can come so soon that curl
        // sees it while still connecting (7), while sending its request (55), or later, reading (56).
        let refused = try namespace.run(["/bin/sh", "-c", "/usr/bin/curl -sS --max-time 5 http://10.96.0.64/ 2>&1"])
        #expect([7, 55, 56].contains(refused.status),
                "a client of a service with no reachable backend is reset; curl said: \(refused.output)")

        // A manifest added while the agent runs is intercepted too.
        try Self.service("api", "10.96.0.63", port: 80, targetPort: 8080)
            .write(to: manifests.appendingPathComponent("api.yaml"), atomically: true, encoding: .utf8)
        #expect(Namespace.eventually { Self.curl(namespace, "http://10.96.0.63/") == expected },
                "a service added live is proxied")

        // kill -9: the rules stay behind. Meanwhile `web` goes away; the restarted agent must
        // replace the stale table rather than add to it.
        kill(agent.processIdentifier, SIGKILL)
        agent.waitUntilExit()
        let leftover = try namespace.run(["/usr/sbin/nft", "list", "table", "ip", "edgemesh"])
        #expect(leftover.status == 0 && leftover.output.contains("10.96.0.60"))
        try FileManager.default.removeItem(at: manifests.appendingPathComponent("web.yaml"))
        agent = try namespace.start(agentArguments, log: directory.appendingPathComponent("agent-restarted.log"))
        #expect(Namespace.eventually { Self.curl(namespace, "http://10.96.0.63/") == expected },
                "traffic flows again after the restart")
        #expect(Namespace.eventually {
            let table = try? namespace.run(["/usr/sbin/nft", "list", "table", "ip", "edgemesh"]).output
            return table.map { !$0.contains("10.96.0.60") && $0.contains("10.96.0.63") } ?? false
        }, "the stale rule of the removed service is gone")
        #expect(Self.curl(namespace, "http://10.96.0.60/") == nil)
        #expect(agent.isRunning)
    }
}
