import Foundation
import Testing

/// TLS crosses the agent's proxy untouched: a Python HTTPS backend in a namespace with a
/// certificate made by `openssl` for the service's name and cluster IP, reached through the
/// real agent by curl and `openssl s_client`, each verifying the chain and the name.
@Suite(.serialized) struct AgentTLSPassthroughTests {
    typealias Namespace = NamespaceTestBed
    static let openssl = "/usr/bin/openssl"
    static let clusterIP = "10.96.0.64"
    static let serviceName = "secure.default.svc.cluster.local"

    static let manifest = """
        apiVersion: v1
        kind: Service
        metadata: {name: secure, namespace: default}
        spec:
          clusterIP: \(clusterIP)
          ports: [{name: https, port: 443, targetPort: 8443}]
        ---
        apiVersion: v1
        kind: Endpoints
        metadata: {name: secure, namespace: default}
        subsets:
        - addresses: [{ip: \(Namespace.podAddress), nodeName: node-a}]
          ports: [{name: https, port: 8443}]
        """

    static func httpsServer(certificate: URL, key: URL, root: URL) -> String {
        """
        import functools, http.server, ssl
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory="\(root.path)")
        server = http.server.HTTPServer(("\(Namespace.podAddress)", 8443), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain("\(certificate.path)", "\(key.path)")
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.serve_forever()
        """
    }

    /// A CA, and a server certificate it signed for the service's name and cluster IP.
    static func makeCertificates(in directory: URL) throws {
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        for arguments in [
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("ca.key"),
             "-out", path("ca.crt"), "-days", "2", "-subj", "/CN=test cluster CA"],
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("other-ca.key"),
             "-out", path("other-ca.crt"), "-days", "2", "-subj", "/CN=someone else's CA"],
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("server.key"),
             "-out", path("server.csr"), "-subj", "/CN=secure"],
            ["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"), "-CAcreateserial",
             "-days", "2", "-out", path("server.crt"), "-extfile", path("server.ext")],
        ] {
            if arguments[0] == "x509" {
                try "subjectAltName=DNS:\(serviceName),IP:\(clusterIP)\nextendedKeyUsage=serverAuth\n"
                    .write(to: directory.appendingPathComponent("server.ext"), atomically: true, encoding: .utf8)
            }
            try Namespace.run([openssl] + arguments)
        }
    }

    static func curl(_ namespace: Namespace, _ url: String, trusting ca: URL) -> (status: Int32, output: String)? {
        try? namespace.run(["/usr/bin/curl", "-s", "--max-time", "3", "--cacert", ca.path, url])
    }

    @Test(.enabled(if: Namespace.isAvailable(tools: [AgentTLSPassthroughTests.openssl]),
                   "needs root, iproute2, python3, curl, nft and openssl (scripts/install-deps)"))
    func httpsIsVerifiedEndToEndThroughTheProxy() throws {
        let namespace = try Namespace()
        defer { namespace.tearDown() }
        let workspace = try AgentWorkspace(index: "hello over TLS\n")
        defer { workspace.remove() }
        let directory = workspace.directory, manifests = workspace.manifests, www = workspace.www
        try Self.manifest.write(to: manifests.appendingPathComponent("secure.yaml"), atomically: true, encoding: .utf8)
        try Self.makeCertificates(in: directory)
        let ca = directory.appendingPathComponent("ca.crt"), otherCA = directory.appendingPathComponent("other-ca.crt")

        try namespace.start([
            Namespace.python, "-c",
            Self.httpsServer(
                certificate: directory.appendingPathComponent("server.crt"), key: directory.appendingPathComponent("server.key"),
                root: www),
        ])
        try namespace.start(
            [EdgemeshProcess.binary.path, "agent", "--node-name", "node-a", "--manifests", manifests.path,
             "--state-dir", directory.appendingPathComponent("state").path],
            log: directory.appendingPathComponent("agent.log"))

        #expect(Namespace.eventually { Self.curl(namespace, "https://\(Self.serviceName)/", trusting: ca)?.output == "hello over TLS\n" },
                "curl by name (the agent's DNS, then its proxy) verifies the backend's certificate")
        #expect(Self.curl(namespace, "https://\(Self.clusterIP)/", trusting: ca)?.output == "hello over TLS\n",
                "curl to the cluster IP verifies the certificate's IP address")
        // curl exits 60 when the peer's certificate cannot be verified.
        #expect(Self.curl(namespace, "https://\(Self.serviceName)/", trusting: otherCA)?.status == 60,
                "trusting another CA, curl refuses the same backend")

        let handshake = try namespace.run([
            Self.openssl, "s_client", "-connect", "\(Self.clusterIP):443", "-servername", Self.serviceName,
            "-verify_hostname", Self.serviceName, "-verify_return_error", "-CAfile", ca.path, "-brief",
        ])
        #expect(handshake.status == 0, "openssl s_client completes a verified handshake through the proxy")
    }
}
