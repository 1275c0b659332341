import Foundation
import Testing

/// `edgemesh agent --gateway`: the real binary in a network namespace serves Istio Gateways to
/// curl, routing by host and path to Python backends, request by request on one connection,
/// follows Gateway and VirtualService changes in the manifest directory, terminates TLS with the
/// certificate of the name the client asks for (curl, openssl s_client) and splices TCP ports.
@Suite(.serialized) struct AgentGatewayTests {
    typealias Namespace = NamespaceTestBed

    static let services = [
        AgentProxyTests.service("cart", "10.96.0.70", port: 80, targetPort: 8080),
        AgentProxyTests.service("catalog", "10.96.0.71", port: 80, targetPort: 8081),
    ].joined(separator: "\n---\n")

    /// The Gateway `edge-gateway` selecting EdgeMesh's gateway label, one server per item of
    /// `servers` (YAML flow mappings).
    static func gateway(servers: [String]) -> String {
        """
        apiVersion: networking.istio.io/v1beta1
        kind: Gateway
        metadata: {name: edge-gateway, namespace: default}
        spec:
          selector: {kubeedge: edgemesh-gateway}
          servers:
        \(servers.map { "  - " + $0 }.joined(separator: "\n"))
        """
    }

    static func gateway(ports: [Int]) -> String {
        gateway(servers: ports.map { "{port: {number: \($0), name: http-\($0), protocol: HTTP}, hosts: [shop.example.com, api.example.com]}" })
    }

    static func shopRoutes(cartService: String) -> String {
        """
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        metadata: {name: shop, namespace: default}
        spec:
          hosts: [shop.example.com]
          gateways: [edge-gateway]
          http:
          - match: [{uri: {prefix: /cart}}]
            route: [{destination: {host: \(cartService), port: {number: 80}}}]
          - match: [{uri: {prefix: /catalog}}]
            route: [{destination: {host: catalog.default.svc.cluster.local}}]
        ---
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        metadata: {name: api, namespace: default}
        spec:
          hosts: [api.example.com]
          gateways: [default/edge-gateway]
          http: [{route: [{destination: {host: catalog}}]}]
        """
    }

    /// A static file server that keeps connections alive (`http.server` alone answers HTTP/1.0
    /// and closes each one): arguments port and directory.
    static let keepAliveServer = """
        import functools, http.server, sys
        http.server.SimpleHTTPRequestHandler.protocol_version = "HTTP/1.1"
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
        http.server.ThreadingHTTPServer(("\(Namespace.podAddress)", int(sys.argv[1])), handler).serve_forever()
        """

    /// Runs `body` with a namespace holding the cart (port 8080, files under `cart/`) and catalog
    /// (8081, `catalog/`) backends serving `pages`, and the real agent with `--gateway` following
    /// the services and what `manifests` returns (given the scratch directory, for certificates).
    /// `body` gets the namespace and the scratch directory; manifests are in its `manifests/`.
    static func withGateway(
        pages: [String: String], manifests: (URL) throws -> [String: String], _ body: (Namespace, URL) throws -> Void
    ) throws {
        let namespace = try Namespace()
        defer { namespace.tearDown() }
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var files = pages
        for (name, text) in try manifests(directory).merging(["services.yaml": services], uniquingKeysWith: { $1 }) {
            files["manifests/" + name] = text
        }
        for (file, text) in files {
            let url = directory.appendingPathComponent(file)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        for (port, root) in [(8080, "cart"), (8081, "catalog")] {
            try namespace.start([Namespace.python, "-c", keepAliveServer, "\(port)", directory.appendingPathComponent(root).path])
        }
        try namespace.start(
            [EdgemeshProcess.binary.path, "agent", "--node-name", "node-a", "--manifests", directory.appendingPathComponent("manifests").path,
             "--state-dir", directory.appendingPathComponent("state").path, "--gateway"],
            log: directory.appendingPathComponent("agent.log"))
        try body(namespace, directory)
    }

    /// curl's `--resolve` points the virtual hosts at the gateway, as a DNS record would.
    static func curl(_ namespace: Namespace, _ urls: [String], extra: [String] = []) -> (status: Int32, output: String)? {
        var arguments = ["/usr/bin/curl", "-s", "--max-time", "3"]
        for host in ["shop.example.com", "api.example.com"] {
            for port in [8088, 8089, 8443, 8087] { arguments += ["--resolve", "\(host):\(port):127.0.0.1"] }
        }
        return try? namespace.run(arguments + extra + urls)
    }

    static func body(_ namespace: Namespace, _ url: String) -> String? {
        guard let result = curl(namespace, [url]), result.status == 0 else { return nil }
        return result.output
    }

    static func status(_ namespace: Namespace, _ url: String) -> String? {
        curl(namespace, [url], extra: ["-o", "/dev/null", "-w", "%{http_code}"])?.output
    }

    @Test func theGatewayRoleIsAnAgentFlagWithLabels() throws {
        let defaults = try EdgemeshProcess.run(["agent", "--node-name", "gw", "--gateway", "--print-config"])
        #expect(defaults.output.contains("gateway: on every address, labels kubeedge=edgemesh-gateway"), "\(defaults.output)")
        let labelled = try EdgemeshProcess.run([
            "agent", "--node-name", "gw", "--gateway", "--gateway-label", "role=ingress", "--gateway-label", "zone=eu",
            "--gateway-nic", "eth1,lo", "--gateway-exclude-ip", "10.0.0.0/8", "--print-config",
        ])
        #expect(labelled.output.contains("gateway: on interfaces eth1,lo; excludeIP 10.0.0.0/8, labels role=ingress,zone=eu"),
                "\(labelled.output)")
        let badIP = try EdgemeshProcess.run(["agent", "--node-name", "gw", "--gateway", "--gateway-include-ip", "10.0.0.300", "--print-config"])
        #expect(badIP.status != 0 && badIP.errors.contains("includeIP: \"10.0.0.300\" is not an IPv4 address or network"), "\(badIP.errors)")
        let off = try EdgemeshProcess.run(["agent", "--node-name", "gw", "--print-config"])
        #expect(off.output.contains("gateway: off"))
        let bad = try EdgemeshProcess.run(["agent", "--node-name", "gw", "--gateway", "--gateway-label", "ingress", "--print-config"])
        #expect(bad.status != 0 && bad.errors.contains("--gateway-label \"ingress\" is not key=value"), "\(bad.errors)")
        let orphan = try EdgemeshProcess.run(["agent", "--node-name", "gw", "--gateway-label", "a=b", "--print-config"])
        #expect(orphan.status != 0 && orphan.errors.contains("--gateway-label needs --gateway"), "\(orphan.errors)")
    }

    @Test(.enabled(if: Namespace.isAvailable(), "needs root, iproute2, python3, curl and nft (scripts/install-deps)"))
    func routesByHostAndPathAndFollowsChanges() throws {
        try Self.withGateway(
            pages: [
                "cart/cart/index.html": "the cart pod\n", "catalog/catalog/index.html": "the catalog pod\n",
                "catalog/index.html": "the catalog home\n", "catalog/cart/index.html": "the catalog's own cart page\n",
            ],
            manifests: { _ in ["gateway.yaml": Self.gateway(ports: [8088]), "routes.yaml": Self.shopRoutes(cartService: "cart")] }
        ) { namespace, directory in
            #expect(Namespace.eventually { Self.body(namespace, "http://shop.example.com:8088/cart/") == "the cart pod\n" },
                    "a path routes to its service")
            #expect(Self.body(namespace, "http://shop.example.com:8088/catalog/") == "the catalog pod\n")
            #expect(Self.body(namespace, "http://api.example.com:8088/") == "the catalog home\n", "a host routes to its service")
            #expect(Self.status(namespace, "http://shop.example.com:8088/checkout") == "404", "no route fits: 404")
            #expect(Self.status(namespace, "http://127.0.0.1:8088/cart/") == "404", "no server serves the bare address")
            let status = try namespace.run([EdgemeshProcess.binary.path, "status"]).output
            #expect(status.contains("gateway kubeedge=edgemesh-gateway: listening on 8088 (HTTP)"), "edgemesh status: \(status)")

            // curl reuses its connection for the second URL: that request is routed on its own.
            let both = Self.curl(
                namespace, ["http://shop.example.com:8088/cart/", "http://shop.example.com:8088/catalog/"],
                extra: ["-w", "[%{num_connects}]\n"])
            #expect(both?.output == "the cart pod\n[1]\nthe catalog pod\n[0]\n", "two services on one kept-alive connection")
            // HTTP/2 in clear text (h2c with prior knowledge), routed by each request's own head.
            // (curl 7.88 sends no second request on a reused h2 connection given --resolve; the
            // streams of one connection are checked in the simulator's GatewayHTTP2Tests.)
            for (path, page) in [("/cart/", "the cart pod\n"), ("/catalog/", "the catalog pod\n")] {
                let http2 = Self.curl(
                    namespace, ["http://shop.example.com:8088\(path)"], extra: ["--http2-prior-knowledge", "-w", "[%{http_version}]"])
                #expect(http2?.output == page + "[2]", "\(http2?.output ?? "no answer")")
            }

            // A VirtualService change applies to the next request; a Gateway change opens a port.
            try Self.shopRoutes(cartService: "catalog")
                .write(to: directory.appendingPathComponent("manifests/routes.yaml"), atomically: true, encoding: .utf8)
            #expect(Namespace.eventually { Self.body(namespace, "http://shop.example.com:8088/cart/") == "the catalog's own cart page\n" },
                    "/cart/ now goes to the catalog service")
            try Self.gateway(ports: [8089])
                .write(to: directory.appendingPathComponent("manifests/gateway.yaml"), atomically: true, encoding: .utf8)
            #expect(Namespace.eventually { Self.body(namespace, "http://api.example.com:8089/") == "the catalog home\n" },
                    "the new port opens")
            #expect(Namespace.eventually { Self.curl(namespace, ["http://api.example.com:8088/"])?.status == 7 },
                    "the port no Gateway declares any more closes (curl: couldn't connect)")
        }
    }

    /// A CA and, for each name, a certificate it signed, as `NAME.crt`/`NAME.key`: for servers,
    /// or for clients (`usage: "clientAuth"`) after the first call made the CA.
    static func makeCertificates(for names: [String], in directory: URL, usage: String = "serverAuth") throws {
        func path(_ file: String) -> String { directory.appendingPathComponent(file).path }
        let openssl = AgentTLSPassthroughTests.openssl
        if !FileManager.default.fileExists(atPath: path("ca.key")) {
            try Namespace.run([
                openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("ca.key"),
                "-out", path("ca.crt"), "-days", "2", "-subj", "/CN=test gateway CA",
            ])
        }
        for name in names {
            try "subjectAltName=DNS:\(name)\nextendedKeyUsage=\(usage)\n"
                .write(to: directory.appendingPathComponent("\(name).ext"), atomically: true, encoding: .utf8)
            try Namespace.run([
                openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("\(name).key"),
                "-out", path("\(name).csr"), "-subj", "/CN=\(name)",
            ])
            try Namespace.run([
                openssl, "x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
                "-CAcreateserial", "-days", "2", "-out", path("\(name).crt"), "-extfile", path("\(name).ext"),
            ])
        }
    }

    /// A `kubernetes.io/tls` Secret holding `NAME.crt` and `NAME.key`, and the CA's certificate
    /// as `ca.crt` with `includingCA` (a MUTUAL server's clients must chain to it).
    static func tlsSecret(_ secretName: String, certificateOf name: String, in directory: URL, includingCA: Bool = false) throws -> String {
        func indented(_ file: String) throws -> String {
            try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
                .split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        }
        return """
            apiVersion: v1
            kind: Secret
            metadata: {name: \(secretName), namespace: default}
            type: kubernetes.io/tls
            stringData:
              tls.crt: |
            \(try indented("\(name).crt"))
              tls.key: |
            \(try indented("\(name).key"))
            """ + (includingCA ? "\n  ca.crt: |\n" + (try indented("ca.crt")) : "")
    }

    static let tlsGateway = gateway(servers: [
        "{port: {number: 8443, name: https-shop, protocol: HTTPS}, hosts: [shop.example.com], tls: {mode: SIMPLE, credentialName: shop-tls}}",
        "{port: {number: 8443, name: https-api, protocol: HTTPS}, hosts: [api.example.com], tls: {mode: SIMPLE, credentialName: api-tls}}",
        "{port: {number: 8087, name: http, protocol: HTTP}, hosts: [shop.example.com], tls: {httpsRedirect: true}}",
        #"{port: {number: 8090, name: tcp, protocol: TCP}, hosts: ["*"]}"#,
    ]) + """

        ---
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        metadata: {name: raw-cart, namespace: default}
        spec:
          hosts: ["*"]
          gateways: [edge-gateway]
          tcp: [{match: [{port: 8090}], route: [{destination: {host: cart}}]}]
        """

    @Test(.enabled(if: Namespace.isAvailable(tools: [AgentTLSPassthroughTests.openssl]),
                   "needs root, iproute2, python3, curl, nft and openssl (scripts/install-deps)"))
    func terminatesTLSByNameAndSplicesTCP() throws {
        try Self.withGateway(
            pages: ["cart/cart/index.html": "the cart pod\n", "catalog/index.html": "the catalog home\n"],
            manifests: { directory in
                try Self.makeCertificates(for: ["shop.example.com", "api.example.com"], in: directory)
                return [
                    "gateway.yaml": Self.tlsGateway, "routes.yaml": Self.shopRoutes(cartService: "cart"),
                    "shop-tls.yaml": try Self.tlsSecret("shop-tls", certificateOf: "shop.example.com", in: directory),
                    "api-tls.yaml": try Self.tlsSecret("api-tls", certificateOf: "api.example.com", in: directory),
                ]
            }
        ) { namespace, directory in
            let ca = directory.appendingPathComponent("ca.crt").path

            #expect(Namespace.eventually {
                Self.curl(namespace, ["https://shop.example.com:8443/cart/"], extra: ["--cacert", ca])?.output == "the cart pod\n"
            }, "curl verifies the shop's certificate and reaches the cart")
            #expect(Self.curl(namespace, ["https://api.example.com:8443/"], extra: ["--cacert", ca])?.output == "the catalog home\n",
                    "the api's name gets the api's certificate on the same port")
            let http2 = Self.curl(
                namespace, ["https://shop.example.com:8443/cart/"], extra: ["--cacert", ca, "--http2", "-w", "[%{http_version}]"])
            #expect(http2?.output == "the cart pod\n[2]", "curl and the gateway agree on h2 by ALPN: \(http2?.output ?? "no answer")")
            let http11 = Self.curl(
                namespace, ["https://shop.example.com:8443/cart/"], extra: ["--cacert", ca, "--http1.1", "-w", "[%{http_version}]"])
            #expect(http11?.output == "the cart pod\n[1.1]", "a client without h2 keeps HTTP/1.1")
            for name in ["shop.example.com", "api.example.com"] {
                let handshake = try namespace.run([
                    AgentTLSPassthroughTests.openssl, "s_client", "-connect", "127.0.0.1:8443", "-servername", name,
                    "-verify_hostname", name, "-verify_return_error", "-CAfile", ca, "-brief",
                ])
                #expect(handshake.status == 0, "openssl s_client -servername \(name) gets a certificate for \(name)")
            }
            let redirect = Self.curl(
                namespace, ["http://shop.example.com:8087/cart/?page=2"], extra: ["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"])
            #expect(redirect?.output == "301 https://shop.example.com/cart/?page=2", "httpsRedirect answers 301 to the https URL")
            // A TCP port reads no Host header: any name reaches the cart through the splice.
            #expect(Self.body(namespace, "http://127.0.0.1:8090/cart/") == "the cart pod\n", "a tcp route splices bytes to its service")
        }
    }

    @Test(.enabled(if: Namespace.isAvailable(tools: [AgentTLSPassthroughTests.openssl]),
                   "needs root, iproute2, python3, curl, nft and openssl (scripts/install-deps)"))
    func mutualTLSAdmitsOnlyClientsWithACertificateFromTheCA() throws {
        let gateway = Self.gateway(servers: [
            "{port: {number: 8443, name: https-shop, protocol: HTTPS}, hosts: [shop.example.com], tls: {mode: MUTUAL, credentialName: shop-mtls}}",
        ])
        try Self.withGateway(
            pages: ["cart/cart/index.html": "the cart pod\n"],
            manifests: { directory in
                try Self.makeCertificates(for: ["shop.example.com"], in: directory)
                try Self.makeCertificates(for: ["operator"], in: directory, usage: "clientAuth")
                // A client certificate from another CA.
                let stranger = directory.appendingPathComponent("stranger")
                try FileManager.default.createDirectory(at: stranger, withIntermediateDirectories: true)
                try Self.makeCertificates(for: ["operator"], in: stranger, usage: "clientAuth")
                return [
                    "gateway.yaml": gateway, "routes.yaml": Self.shopRoutes(cartService: "cart"),
                    "shop-mtls.yaml": try Self.tlsSecret("shop-mtls", certificateOf: "shop.example.com", in: directory, includingCA: true),
                ]
            }
        ) { namespace, directory in
            func path(_ file: String) -> String { directory.appendingPathComponent(file).path }
            let url = ["https://shop.example.com:8443/cart/"]
            #expect(Namespace.eventually {
                Self.curl(namespace, url, extra: ["--cacert", path("ca.crt"), "--cert", path("operator.crt"), "--key", path("operator.key")])?
                    .output == "the cart pod\n"
            }, "a client with a certificate from the credential's CA is served")
            let anonymous = Self.curl(namespace, url, extra: ["--cacert", path("ca.crt")])
            #expect(anonymous?.status != 0 && anonymous?.output.isEmpty == true, "no client certificate: the handshake fails (curl \(anonymous?.status ?? -1))")
            let stranger = Self.curl(
                namespace, url, extra: ["--cacert", path("ca.crt"), "--cert", path("stranger/operator.crt"), "--key", path("stranger/operator.key")])
            #expect(stranger?.status != 0 && stranger?.output.isEmpty == true, "a certificate from another CA is refused (curl \(stranger?.status ?? -1))")
        }
    }
}
