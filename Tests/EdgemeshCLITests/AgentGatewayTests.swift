import Foundation
import Testing

/// `edgemesh agent --gateway`: the real binary in a network namespace serves Istio Gateways to
/// curl, routing by host and path to Python backends, request by request on one connection, and
/// follows Gateway and VirtualService changes in the manifest directory.
@Suite(.serialized) struct AgentGatewayTests {
    typealias Namespace = AgentProxyNamespace

    static let services = """
        apiVersion: v1
        kind: Service
        metadata: {name: cart, namespace: default}
        spec: {clusterIP: 10.96.0.70, ports: [{name: http, port: 80, targetPort: 8080}]}
        ---
        apiVersion: v1
        kind: Endpoints
        metadata: {name: cart, namespace: default}
        subsets: [{addresses: [{ip: \(Namespace.podAddress), nodeName: node-a}], ports: [{name: http, port: 8080}]}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: catalog, namespace: default}
        spec: {clusterIP: 10.96.0.71, ports: [{name: http, port: 80, targetPort: 8081}]}
        ---
        apiVersion: v1
        kind: Endpoints
        metadata: {name: catalog, namespace: default}
        subsets: [{addresses: [{ip: \(Namespace.podAddress), nodeName: node-a}], ports: [{name: http, port: 8081}]}]
        """

    static func gateway(ports: [Int]) -> String {
        """
        apiVersion: networking.istio.io/v1beta1
        kind: Gateway
        metadata: {name: edge-gateway, namespace: default}
        spec:
          selector: {kubeedge: edgemesh-gateway}
          servers:
        \(ports.map { "  - {port: {number: \($0), name: http-\($0), protocol: HTTP}, hosts: [shop.example.com, api.example.com]}" }.joined(separator: "\n"))
        """
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

    /// curl's `--resolve` points the virtual hosts at the gateway, as a DNS record would.
    static func curl(_ namespace: Namespace, _ urls: [String], extra: [String] = []) -> (status: Int32, output: String)? {
        var arguments = ["/usr/bin/curl", "-s", "--max-time", "3"]
        for host in ["shop.example.com", "api.example.com"] {
            for port in [8088, 8089] { arguments += ["--resolve", "\(host):\(port):127.0.0.1"] }
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
        #expect(defaults.output.contains("gateway: on 0.0.0.0, labels kubeedge=edgemesh-gateway"), "\(defaults.output)")
        let labelled = try EdgemeshProcess.run([
            "agent", "--node-name", "gw", "--gateway", "--gateway-label", "role=ingress", "--gateway-label", "zone=eu",
            "--gateway-address", "10.0.0.5", "--print-config",
        ])
        #expect(labelled.output.contains("gateway: on 10.0.0.5, labels role=ingress,zone=eu"), "\(labelled.output)")
        let off = try EdgemeshProcess.run(["agent", "--node-name", "gw", "--print-config"])
        #expect(off.output.contains("gateway: off"))
        let bad = try EdgemeshProcess.run(["agent", "--node-name", "gw", "--gateway", "--gateway-label", "ingress", "--print-config"])
        #expect(bad.status != 0 && bad.errors.contains("--gateway-label \"ingress\" is not key=value"), "\(bad.errors)")
        let orphan = try EdgemeshProcess.run(["agent", "--node-name", "gw", "--gateway-label", "a=b", "--print-config"])
        #expect(orphan.status != 0 && orphan.errors.contains("--gateway-label needs --gateway"), "\(orphan.errors)")
    }

    @Test func routesByHostAndPathAndFollowsChanges() throws {
        if let reason = Namespace.unavailableReason {
            print("AgentGatewayTests skipped: \(reason)")
            return
        }
        let namespace = try Namespace()
        defer { namespace.tearDown() }
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let manifests = directory.appendingPathComponent("manifests")
        for folder in ["manifests", "cart/cart", "catalog/catalog", "catalog/cart"] {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        for (file, text) in [
            "cart/cart/index.html": "the cart pod\n", "catalog/catalog/index.html": "the catalog pod\n",
            "catalog/index.html": "the catalog home\n", "catalog/cart/index.html": "the catalog's own cart page\n",
            "manifests/services.yaml": Self.services, "manifests/gateway.yaml": Self.gateway(ports: [8088]),
            "manifests/routes.yaml": Self.shopRoutes(cartService: "cart"),
        ] {
            try text.write(to: directory.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
        for (port, root) in [(8080, "cart"), (8081, "catalog")] {
            try namespace.start([Namespace.python, "-c", Self.keepAliveServer, "\(port)", directory.appendingPathComponent(root).path])
        }
        try namespace.start(
            [EdgemeshProcess.binary.path, "agent", "--node-name", "node-a", "--manifests", manifests.path,
             "--state-dir", directory.appendingPathComponent("state").path, "--gateway"],
            log: directory.appendingPathComponent("agent.log"))

        #expect(Namespace.eventually { Self.body(namespace, "http://shop.example.com:8088/cart/") == "the cart pod\n" },
                "a path routes to its service")
        #expect(Self.body(namespace, "http://shop.example.com:8088/catalog/") == "the catalog pod\n")
        #expect(Self.body(namespace, "http://api.example.com:8088/") == "the catalog home\n", "a host routes to its service")
        #expect(Self.status(namespace, "http://shop.example.com:8088/checkout") == "404", "no route fits: 404")
        #expect(Self.status(namespace, "http://127.0.0.1:8088/cart/") == "404", "no server serves the bare address")

        // curl reuses its connection for the second URL: that request is routed on its own.
        let both = Self.curl(
            namespace, ["http://shop.example.com:8088/cart/", "http://shop.example.com:8088/catalog/"],
            extra: ["-w", "[%{num_connects}]\n"])
        #expect(both?.output == "the cart pod\n[1]\nthe catalog pod\n[0]\n", "two services on one kept-alive connection")

        // A VirtualService change applies to the next request; a Gateway change opens a port.
        try Self.shopRoutes(cartService: "catalog")
            .write(to: manifests.appendingPathComponent("routes.yaml"), atomically: true, encoding: .utf8)
        #expect(Namespace.eventually { Self.body(namespace, "http://shop.example.com:8088/cart/") == "the catalog's own cart page\n" },
                "/cart/ now goes to the catalog service")
        try Self.gateway(ports: [8089])
            .write(to: manifests.appendingPathComponent("gateway.yaml"), atomically: true, encoding: .utf8)
        #expect(Namespace.eventually { Self.body(namespace, "http://api.example.com:8089/") == "the catalog home\n" },
                "the new port opens")
        #expect(Namespace.eventually { Self.curl(namespace, ["http://api.example.com:8088/"])?.status == 7 },
                "the port no Gateway declares any more closes (curl: couldn't connect)")
    }
}
