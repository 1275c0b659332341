import Foundation
import Testing

/// With a header-hash DestinationRule, the real agent balances each request of a keep-alive
/// connection: one curl that fetches several URLs over one connection (`--next`), each with its
/// own header value, reaches the backend that value reaches on a connection of its own.
@Suite(.serialized) struct AgentRequestBalancingTests {
    typealias Namespace = NamespaceTestBed

    static let pods = ["10.244.0.1", "10.244.0.2", "10.244.0.3"]
    static let users = (0..<8).map { "user-\($0)" }

    static let manifest = """
        apiVersion: v1
        kind: Service
        metadata: {name: hashed, namespace: default}
        spec:
          clusterIP: 10.96.0.70
          ports: [{name: http, port: 80, targetPort: 8080}]
        ---
        apiVersion: v1
        kind: Endpoints
        metadata: {name: hashed, namespace: default}
        subsets:
        - addresses: [\(pods.map { "{ip: \($0), nodeName: node-a}" }.joined(separator: ", "))]
          ports: [{name: http, port: 8080}]
        ---
        apiVersion: networking.istio.io/v1beta1
        kind: DestinationRule
        metadata: {name: hashed, namespace: default}
        spec:
          host: hashed
          trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
        """

    /// A keep-alive HTTP/1.1 server answering every GET with its own address.
    static func backend(_ address: String) -> String {
        """
        import http.server
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_GET(self):
                body = b"\(address)"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def do_POST(self):
                # Reads the body as sent (curl waits for 100 Continue first) and answers its size.
                length = int(self.headers["Content-Length"])
                received = 0
                while received < length:
                    received += len(self.rfile.read(min(65536, length - received)))
                body = b"\(address) %d" % received
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args):
                pass
        http.server.ThreadingHTTPServer(("\(address)", 8080), Handler).serve_forever()
        """
    }

    /// One curl run fetching the service once per user, each transfer printing its body and
    /// whether it opened a connection (`num_connects`).
    static func curl(_ namespace: Namespace, users: [String]) throws -> [(body: String, connects: Int)] {
        var arguments = ["/usr/bin/curl", "-s", "--max-time", "5"]
        for (index, user) in users.enumerated() {
            if index > 0 { arguments.append("--next") }
            arguments += ["-H", "X-User: \(user)", "-w", "|%{num_connects}\n", "http://10.96.0.70/"]
        }
        let result = try namespace.run(arguments)
        guard result.status == 0 else { throw NamespaceCommandFailed(command: "curl: \(result.output)", status: result.status) }
        return result.output.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "|")
            guard parts.count == 2, let connects = Int(parts[1]) else { return nil }
            return (String(parts[0]), connects)
        }
    }

    @Test(.enabled(if: Namespace.isAvailable(), "needs root, iproute2, python3, curl and nft (scripts/install-deps)"))
    func curlWithSeveralURLsOnOneConnectionReachesEachHeadersBackend() throws {
        let namespace = try Namespace()
        defer { namespace.tearDown() }
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for pod in Self.pods.dropFirst() {
            _ = try namespace.run([Namespace.ip, "addr", "add", "\(pod)/24", "dev", "edgemesh0"])
        }
        for pod in Self.pods { try namespace.start([Namespace.python, "-c", Self.backend(pod)]) }
        try namespace.startAgent(manifests: ["hashed.yaml": Self.manifest], in: directory)
        #expect(Namespace.eventually { ((try? Self.curl(namespace, users: ["probe"]))?.count ?? 0) == 1 },
                "the agent proxies the service")

        // Each user on a connection of its own: the backend its header hashes to.
        let alone = try Self.users.map { user in try #require(try Self.curl(namespace, users: [user]).first?.body) }
        #expect(Set(alone).count >= 2, "the users spread over the backends: \(alone)")
        // All of them on one connection, twice over: the same backends, in the same order.
        let together = try Self.curl(namespace, users: Self.users + Self.users)
        #expect(together.map(\.body) == alone + alone)
        #expect(together.map(\.connects).reduce(0, +) == 1, "curl used one connection: \(together.map(\.connects))")

        // A 3 MB upload: curl sends `Expect: 100-continue`, waits for the backend's 100, then
        // streams the body; the backend the header picks gets every byte.
        let upload = directory.appendingPathComponent("upload")
        try Data(repeating: 0x61, count: 3_000_000).write(to: upload)
        let posted = try namespace.run([
            "/usr/bin/curl", "-s", "--max-time", "10", "-H", "X-User: \(Self.users[0])", "--data-binary", "@\(upload.path)",
            "http://10.96.0.70/",
        ])
        #expect(posted.output == "\(alone[0]) 3000000", "curl said: \(posted.output)")
    }
}
