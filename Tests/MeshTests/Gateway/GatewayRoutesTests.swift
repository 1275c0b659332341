import Mesh
import Testing

/// How the ingress gateway decides where a request goes: which Gateways it serves, which
/// VirtualServices bind to them, and how host, path and weights choose the destination.
@Suite struct GatewayRoutesTests {
    static let gatewayLabels = ["kubeedge": "edgemesh-gateway"]

    static func gateway(_ yaml: String) throws -> Gateway {
        try KubernetesDecoder.decode(Gateway.self, yaml: yaml)
    }

    static func virtualService(_ yaml: String) throws -> VirtualService {
        try KubernetesDecoder.decode(VirtualService.self, yaml: yaml)
    }

    /// A Gateway in namespace `shop` whose selector asks for `kubeedge: selector`, with one
    /// server per item of `servers` (YAML flow mappings).
    static func gatewayYAML(_ name: String = "edge-gateway", selector: String = "edgemesh-gateway", servers: [String]) -> String {
        """
        apiVersion: networking.istio.io/v1beta1
        kind: Gateway
        metadata: {name: \(name), namespace: shop}
        spec:
          selector: {kubeedge: \(selector)}
          servers:
        \(servers.map { "  - " + $0 }.joined(separator: "\n"))
        """
    }

    static let shopGateway = gatewayYAML(servers: [
        #"{port: {number: 80, name: http, protocol: HTTP}, hosts: [shop.example.com, "*.api.example.com"]}"#,
    ])

    /// The VirtualService `shop/shop` for `shop.example.com` on the shop Gateway, with these
    /// `http` routes (a YAML block sequence).
    static func shopVirtualService(http: String) -> String {
        """
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        metadata: {name: shop, namespace: shop}
        spec:
          hosts: [shop.example.com]
          gateways: [edge-gateway]
          http:
        \(http.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
        """
    }

    static let shopRoutes = shopVirtualService(http: """
        - name: cart
          match: [{uri: {prefix: /cart}}]
          route: [{destination: {host: cart, port: {number: 80}}}]
        - name: catalog
          match: [{uri: {exact: /catalog}}, {uri: {regex: "/catalog/[0-9]+"}}]
          route: [{destination: {host: catalog.shop.svc.cluster.local}}]
        """)

    static func routes(gateways: [String] = [shopGateway], virtualServices: [String] = [shopRoutes]) throws -> GatewayRoutes {
        GatewayRoutes(
            gateways: try gateways.map(gateway), virtualServices: try virtualServices.map(virtualService),
            labels: gatewayLabels, clusterDomain: "cluster.local")
    }

    static func destination(_ decision: GatewayRoutes.Decision) -> [String] {
        guard case .forward(let forwarded) = decision else { return [] }
        return destinations(forwarded.destinations)
    }

    static func destination(_ decision: GatewayRoutes.StreamDecision) -> [String] {
        guard case .splice(let destinations, _) = decision else { return [] }
        return Self.destinations(destinations)
    }

    static func destinations(_ destinations: [GatewayDestination]) -> [String] {
        destinations.map { "\($0.service.map { "\($0)" } ?? "-"):\($0.port.map(String.init) ?? "-")/\($0.weight)" }
    }

    // MARK: Hosts

    @Test func hostPatternsMatchAsIstioWritesThem() {
        #expect(HostPattern("*").matches("anything.example.com"))
        #expect(HostPattern("*.example.com").matches("a.example.com"))
        #expect(HostPattern("*.example.com").matches("a.b.example.com"))
        #expect(!HostPattern("*.example.com").matches("example.com"), "a wildcard needs a label before the suffix")
        #expect(!HostPattern("*.example.com").matches("badexample.com"))
        #expect(HostPattern("Shop.Example.com.").matches("shop.example.com"))
        #expect(!HostPattern("shop.example.com").matches("shop.example.org"))
    }

    @Test func theHostHeaderLosesItsPortAndCase() {
        #expect(HostPattern.requestHost(fromHeader: "Shop.Example.COM:8080") == "shop.example.com")
        #expect(HostPattern.requestHost(fromHeader: " shop.example.com. ") == "shop.example.com")
        #expect(HostPattern.requestHost(fromHeader: "[::1]:80") == "[::1]")
        #expect(HostPattern.requestHost(fromHeader: "") == "")
    }

    // MARK: Gateways

    @Test func listensOnlyOnPortsOfGatewaysSelectingItsLabels() throws {
        let other = Self.gatewayYAML(
            "other", selector: "another-gateway", servers: [#"{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}"#])
        let routes = try Self.routes(gateways: [Self.shopGateway, other])
        #expect(routes.ports == [80])
        let custom = GatewayRoutes(
            gateways: [try Self.gateway(other)], virtualServices: [], labels: ["kubeedge": "another-gateway"],
            clusterDomain: "cluster.local")
        #expect(custom.ports == [8080], "configured labels select other Gateways")
    }

    @Test func unservedProtocolsAndPortClashesAreReportedNotServed() throws {
        let clash = Self.gatewayYAML("z-late", servers: [
            #"{port: {number: 80, name: grpc, protocol: GRPC}, hosts: ["*"]}"#,
            #"{port: {number: 80, name: tcp, protocol: TCP}, hosts: ["*"]}"#,
        ])
        let routes = try Self.routes(gateways: [Self.shopGateway, clash])
        #expect(routes.ports == [80])
        #expect(routes.listeners[80]?.servers.map(\.gateway.name) == ["edge-gateway"])
        #expect(routes.problems == [
            "Gateway shop/z-late port 80: TCP clashes with HTTP declared first by Gateway shop/edge-gateway; ignored",
            "Gateway shop/z-late port 80: protocol GRPC is not served by this gateway (HTTP, HTTPS, TLS, TCP)",
        ])
    }

    // MARK: Requests

    @Test func pathsChooseTheRouteInOrder() throws {
        let routes = try Self.routes()
        #expect(Self.destination(routes.decide(port: 80, hostHeader: "shop.example.com", target: "/cart/items?sort=price"))
            == ["shop/cart:80/100"])
        #expect(Self.destination(routes.decide(port: 80, hostHeader: "shop.example.com", target: "/catalog"))
            == ["shop/catalog:-/100"])
        #expect(Self.destination(routes.decide(port: 80, hostHeader: "shop.example.com", target: "/catalog/42"))
            == ["shop/catalog:-/100"])
        #expect(Self.destination(routes.decide(port: 80, hostHeader: "shop.example.com", target: "http://shop.example.com/cart"))
            == ["shop/cart:80/100"], "an absolute-form target is matched by its path")
        guard case .notFound(let reason) = routes.decide(port: 80, hostHeader: "shop.example.com", target: "/catalog/books") else {
            Issue.record("a regex must match the whole path")
            return
        }
        #expect(reason == "no VirtualService route on port 80 for host \"shop.example.com\" and path \"/catalog/books\"")
    }

    @Test func aHostNoServerOrVirtualServiceNamesIsNotFound() throws {
        let routes = try Self.routes()
        #expect(routes.decide(port: 80, hostHeader: "www.example.com", target: "/cart")
            == .notFound("no Gateway server on port 80 serves host \"www.example.com\""))
        // The server takes *.api.example.com, but no VirtualService does.
        #expect(routes.decide(port: 80, hostHeader: "v1.api.example.com", target: "/")
            == .notFound("no VirtualService route on port 80 for host \"v1.api.example.com\" and path \"/\""))
        #expect(routes.decide(port: 81, hostHeader: "shop.example.com", target: "/cart")
            == .notFound("no HTTP server of a Gateway listens on port 81"))
    }

    @Test func virtualServicesBindByGatewayNameOrNamespacedName() throws {
        func api(_ gateways: String, namespace: String = "shop") -> String {
            """
            apiVersion: networking.istio.io/v1beta1
            kind: VirtualService
            metadata: {name: api, namespace: \(namespace)}
            spec:
              hosts: ["*.api.example.com"]
              gateways: \(gateways)
              http: [{route: [{destination: {host: api, port: {number: 8000}}}]}]
            """
        }
        let request = { (routes: GatewayRoutes) in routes.decide(port: 80, hostHeader: "eu.api.example.com", target: "/") }
        #expect(Self.destination(request(try Self.routes(virtualServices: [api("[edge-gateway]")]))) == ["shop/api:8000/100"])
        #expect(Self.destination(request(try Self.routes(virtualServices: [api("[shop/edge-gateway]", namespace: "web")])))
            == ["web/api:8000/100"], "a short destination is read in the VirtualService's namespace")
        #expect(Self.destination(request(try Self.routes(virtualServices: [api("[edge-gateway]", namespace: "web")]))).isEmpty,
                "a bare gateway name means the VirtualService's own namespace")
        #expect(Self.destination(request(try Self.routes(virtualServices: [api("[mesh]")]))).isEmpty)
    }

    @Test func aServerHostsNamespaceLimitsWhoMayBind() throws {
        let gateway = Self.shopGateway.replacingOccurrences(of: "hosts: [shop.example.com", with: "hosts: [web/shop.example.com")
        let routes = try Self.routes(gateways: [gateway])
        #expect(Self.destination(routes.decide(port: 80, hostHeader: "shop.example.com", target: "/cart")).isEmpty,
                "the shop namespace may not bind to a host the server keeps for web")
    }

    @Test func httpsRedirectAnswersEveryRequestOfItsServer() throws {
        let gateway = Self.shopGateway.replacingOccurrences(
            of: "hosts: [shop.example.com, \"*.api.example.com\"]",
            with: "hosts: [shop.example.com], tls: {httpsRedirect: true}")
        #expect(try Self.routes(gateways: [gateway]).decide(port: 80, hostHeader: "shop.example.com", target: "/cart")
            == .redirectToHTTPS)
    }

    @Test func anInvalidRegexFitsNothingAndIsReported() throws {
        let broken = Self.shopRoutes.replacingOccurrences(of: "regex: \"/catalog/[0-9]+\"", with: "regex: \"/catalog/[0-9\"")
        let routes = try Self.routes(virtualServices: [broken])
        #expect(routes.problems.count == 1 && routes.problems[0].hasPrefix("VirtualService shop/shop http[1].match[1]: uri regex \"/catalog/[0-9\" does not compile"))
        #expect(Self.destination(routes.decide(port: 80, hostHeader: "shop.example.com", target: "/catalog")) == ["shop/catalog:-/100"],
                "the route's other match still fits")
    }

    /// What a user wrote for Istio and this gateway does not do is said, per object, never
    /// dropped in silence; a match condition it cannot check makes the match fit nothing rather
    /// than take requests the condition would have kept out.
    @Test func fieldsNotImplementedAreReportedAndUncheckableMatchesFitNothing() throws {
        let routes = try Self.routes(virtualServices: [
            """
            apiVersion: networking.istio.io/v1beta1
            kind: VirtualService
            metadata: {name: shop, namespace: shop}
            spec:
              hosts: [shop.example.com]
              gateways: [edge-gateway]
              exportTo: ["."]
              tls: [{match: [{sniHosts: [shop.example.com]}], route: [{destination: {host: cart}}]}]
              http:
              - match: [{uri: {prefix: /cart}, sourceLabels: {app: canary}}]
                route: [{destination: {host: canary}}]
              - match: [{uri: {prefix: /cart}}]
                fault: {abort: {httpStatus: 500, percentage: {value: 1}}}
                mirrors: [{destination: {host: cart-shadow}}]
                route: [{destination: {host: cart}}]
            """,
        ])
        #expect(routes.problems == [
            "VirtualService shop/shop http[0].match[0]: sourceLabels not implemented; the match fits no request",
            "VirtualService shop/shop http[1]: fault, mirrors not implemented; the route is served without them",
            "VirtualService shop/shop: exportTo not implemented by this gateway; ignored",
        ])
        #expect(Self.destination(routes.decide(port: 80, hostHeader: "shop.example.com", target: "/cart")) == ["shop/cart:-/100"],
                "the canary route's source match is not checked, so it takes nothing; the next route does")
    }

    @Test func aTCPMatchWithAnUncheckableConditionFitsNoConnection() throws {
        let guarded = Self.databaseRoutes.replacingOccurrences(of: "- match: [{port: 5432}]", with: "- match: [{port: 5432, sourceLabels: {app: billing}}]")
        #expect(guarded != Self.databaseRoutes)
        let routes = try Self.routes(gateways: [Self.databaseGateway], virtualServices: [guarded])
        #expect(routes.decideStream(port: 5432) == .notFound("no VirtualService tcp route for port 5432"))
        #expect(routes.problems == ["VirtualService shop/databases tcp[0].match[0]: sourceLabels not implemented; the match fits no connection"])
    }

    // MARK: Destinations

    @Test func destinationNamesResolveToServices() {
        func service(_ name: String) -> String? {
            GatewayDestination.service(named: name, inNamespace: "shop", clusterDomain: "cluster.local").map { "\($0)" }
        }
        #expect(service("cart") == "shop/cart")
        #expect(service("cart.web") == "web/cart")
        #expect(service("cart.web.svc") == "web/cart")
        #expect(service("cart.web.svc.cluster.local.") == "web/cart")
        #expect(service("www.example.com") == nil)
        #expect(service("cart..svc") == nil)
    }

    @Test func weightsSplitTrafficInProportion() {
        var random = NoiseTestRandom(seed: 42)
        var counts = [0, 0, 0]
        for _ in 0..<10_000 {
            counts[GatewayDestination.pick(weights: [75, 25, 0], using: &random)!] += 1
        }
        #expect((7_200...7_800).contains(counts[0]) && (2_200...2_800).contains(counts[1]), "\(counts)")
        #expect(counts[2] == 0, "a destination of weight 0 takes nothing")
        #expect(GatewayDestination.pick(weights: [0, 0], using: &random) == nil)
        #expect(GatewayDestination.pick(weights: [0, 5], using: &random) == 1)
    }

    // MARK: TCP

    static let databaseGateway = gatewayYAML(servers: [
        #"{port: {number: 5432, name: postgres, protocol: TCP}, hosts: ["*"]}"#,
        #"{port: {number: 6379, name: redis, protocol: TCP}, hosts: ["*"]}"#,
    ])

    static let databaseRoutes = """
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        metadata: {name: databases, namespace: shop}
        spec:
          hosts: ["*"]
          gateways: [edge-gateway]
          tcp:
          - match: [{port: 5432}]
            route: [{destination: {host: postgres, port: {number: 5432}}}]
        """

    @Test func tcpPortsRouteByPortOnly() throws {
        let routes = try Self.routes(gateways: [Self.databaseGateway], virtualServices: [Self.databaseRoutes])
        #expect(routes.ports == [5432, 6379])
        #expect(routes.listeners[5432]?.protocol == .tcp)
        #expect(Self.destination(routes.decideStream(port: 5432)) == ["shop/postgres:5432/100"])
        #expect(routes.decideStream(port: 6379) == .notFound("no VirtualService tcp route for port 6379"))
        #expect(routes.decide(port: 5432, hostHeader: "shop.example.com", target: "/")
            == .notFound("no HTTP server of a Gateway listens on port 5432"), "a TCP port routes no HTTP requests")
        #expect(try Self.routes().decideStream(port: 80) == .notFound("no TCP server of a Gateway listens on port 80"))
    }

    @Test func aTCPRouteWithoutMatchTakesEveryPort() throws {
        let catchAll = Self.databaseRoutes.replacingOccurrences(of: "- match: [{port: 5432}]\n    route", with: "- route")
        let routes = try Self.routes(gateways: [Self.databaseGateway], virtualServices: [catchAll])
        #expect(Self.destination(routes.decideStream(port: 6379)) == ["shop/postgres:5432/100"])
    }

    // MARK: TLS passthrough

    @Test func passthroughConnectionsRouteByServerName() throws {
        let gateway = Self.gatewayYAML(servers: [
            #"{port: {number: 443, name: tls, protocol: TLS}, hosts: ["*.example.com"], tls: {mode: PASSTHROUGH}}"#,
        ])
        let routes = try Self.routes(gateways: [gateway], virtualServices: [
            """
            apiVersion: networking.istio.io/v1beta1
            kind: VirtualService
            metadata: {name: passthrough, namespace: shop}
            spec:
              hosts: ["*.example.com"]
              gateways: [edge-gateway]
              tls:
              - match: [{sniHosts: [shop.example.com], port: 443}]
                route: [{destination: {host: shop, port: {number: 8443}}}]
              - match: [{sniHosts: ["*.api.example.com"]}]
                route: [{destination: {host: api}}]
              - match: [{sniHosts: [db.example.com], destinationSubnets: [10.0.0.0/8]}]
                route: [{destination: {host: db}}]
            """,
        ])
        #expect(routes.listeners[443]?.protocol == .tlsPassthrough)
        #expect(routes.problems == ["VirtualService shop/passthrough tls[2].match[0]: destinationSubnets not implemented; the match fits no connection"])
        #expect(Self.destination(routes.decidePassthrough(port: 443, serverName: "Shop.Example.com")) == ["shop/shop:8443/100"])
        #expect(Self.destination(routes.decidePassthrough(port: 443, serverName: "eu.api.example.com")) == ["shop/api:-/100"])
        #expect(routes.decidePassthrough(port: 443, serverName: "db.example.com")
            == .notFound("no VirtualService tls route on port 443 for \"db.example.com\""))
        #expect(routes.decidePassthrough(port: 443, serverName: "shop.example.org")
            == .notFound("no Gateway server on port 443 serves \"shop.example.org\""))
        #expect(routes.decidePassthrough(port: 443, serverName: nil)
            == .notFound("the ClientHello to port 443 names no server (SNI); passthrough routes by name"))
        #expect(routes.decide(port: 443, hostHeader: "shop.example.com", target: "/")
            == .notFound("no HTTP server of a Gateway listens on port 443"), "a passthrough port routes no HTTP requests")
    }
}
