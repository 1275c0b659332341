import Foundation
import Mesh
import NIOCore
import NIOHTTP1
import Testing

/// What a VirtualService HTTP route does with a request besides choosing its destination, as an
/// Istio user writes it: matches on headers, method, query, authority, port and scheme;
/// rewrites, redirects, direct responses, header edits, CORS, timeouts and retries.
@Suite struct GatewayHTTPRouteTests {
    static let gatewayYAML = GatewayRoutesTests.gatewayYAML(servers: [
        #"{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*.example.com"]}"#,
        #"{port: {number: 8080, name: http-alt, protocol: HTTP}, hosts: ["*.example.com"]}"#,
    ])

    /// A VirtualService for `shop.example.com` on the shop Gateway with these `http` routes (YAML).
    static func routes(_ http: String) throws -> GatewayRoutes {
        try GatewayRoutesTests.routes(gateways: [gatewayYAML], virtualServices: [GatewayRoutesTests.shopVirtualService(http: http)])
    }

    static func request(
        _ target: String = "/", method: HTTPMethod = .GET, port: UInt16 = 80, host: String = "shop.example.com",
        headers: [(String, String)] = []
    ) -> GatewayRequest {
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: HTTPHeaders([("Host", host)] + headers))
        return GatewayRequest(port: port, scheme: "http", head: head)
    }

    /// The destination host names the decision forwards to, or what it answers.
    static func outcome(_ decision: GatewayRoutes.Decision) -> String {
        switch decision {
        case .forward(let forwarded): forwarded.destinations.map(\.host).joined(separator: ",")
        case .reply(let reply): "\(reply.status.code)"
        case .redirectToHTTPS: "https"
        case .notFound: "404"
        }
    }

    static func forwarded(_ decision: GatewayRoutes.Decision) throws -> GatewayRoutes.ForwardedRequest {
        guard case .forward(let forwarded) = decision else { throw RouteTestFailure("not forwarded: \(decision)") }
        return forwarded
    }

    static func reply(_ decision: GatewayRoutes.Decision) throws -> LocalReply {
        guard case .reply(let reply) = decision else { throw RouteTestFailure("not answered by the gateway: \(decision)") }
        return reply
    }

    // MARK: Matches

    @Test func headersMethodAndQueryChooseTheCanary() throws {
        let routes = try Self.routes("""
            - name: canary
              match:
              - headers: {x-canary: {exact: "1"}, cookie: {regex: ".*beta=yes.*"}}
              - method: {exact: POST}
                queryParams: {version: {exact: "2"}}
              route: [{destination: {host: cart-canary}}]
            - route: [{destination: {host: cart}}]
            """)
        #expect(routes.problems.isEmpty, "\(routes.problems)")
        func to(_ request: GatewayRequest) -> String { Self.outcome(routes.decide(request)) }
        #expect(to(Self.request(headers: [("X-Canary", "1"), ("Cookie", "a=b; beta=yes")])) == "cart-canary", "header names compare without case")
        #expect(to(Self.request(headers: [("X-Canary", "1")])) == "cart", "every condition of a match must hold")
        #expect(to(Self.request(headers: [("x-canary", "2"), ("cookie", "beta=yes")])) == "cart")
        #expect(to(Self.request("/items?version=2", method: .POST)) == "cart-canary", "any one match selects the route")
        #expect(to(Self.request("/items?version=2")) == "cart", "the method is part of that match")
        #expect(to(Self.request("/items?version=22", method: .POST)) == "cart", "a query parameter matches exactly")
    }

    @Test func presenceAbsencePortAuthorityAndCase() throws {
        let routes = try Self.routes("""
            - match: [{headers: {x-debug: {}}}]
              route: [{destination: {host: debug}}]
            - match: [{port: 8080, withoutHeaders: {x-internal: {exact: "true"}}}]
              route: [{destination: {host: alt}}]
            - match: [{authority: {prefix: "shop.example.com:"}}]
              route: [{destination: {host: with-port}}]
            - match: [{uri: {prefix: /Cart}, ignoreUriCase: true}, {scheme: {exact: https}}]
              route: [{destination: {host: cart}}]
            """)
        #expect(routes.problems.isEmpty, "\(routes.problems)")
        func to(_ request: GatewayRequest) -> String { Self.outcome(routes.decide(request)) }
        #expect(to(Self.request(headers: [("X-Debug", "")])) == "debug", "{} asks only that the header be there")
        #expect(to(Self.request(port: 8080)) == "alt")
        #expect(to(Self.request(port: 8080, headers: [("x-internal", "true")])) == "404", "withoutHeaders keeps a matching request out")
        #expect(to(Self.request(host: "shop.example.com:80")) == "with-port", "authority matches the Host header as sent")
        #expect(to(Self.request("/CART/items")) == "cart", "ignoreUriCase")
        #expect(to(Self.request("/checkout")) == "404", "plain http is not https")
    }

    @Test func aBadRegexInAHeaderMatchIsReportedAndFitsNothing() throws {
        let routes = try Self.routes("""
            - match: [{headers: {x-user: {regex: "[a-z"}}}]
              route: [{destination: {host: beta}}]
            - route: [{destination: {host: cart}}]
            """)
        #expect(routes.problems.count == 1)
        #expect(routes.problems.first?.hasPrefix(#"VirtualService shop/shop http[0].match[0]: headers.x-user regex "[a-z" does not compile"#) == true,
                "\(routes.problems)")
        #expect(Self.outcome(routes.decide(Self.request(headers: [("x-user", "[a-z")]))) == "cart")
    }

    // MARK: What a route does

    @Test func rewritesReplaceTheMatchedPrefixAndKeepTheQuery() throws {
        let routes = try Self.routes("""
            - match: [{uri: {prefix: /api/v1/}}]
              rewrite: {uri: /v1/, authority: api.internal}
              route: [{destination: {host: api}}]
            - match: [{uri: {exact: /old}}]
              rewrite: {uri: /new}
              route: [{destination: {host: cart}}]
            - match: [{uri: {prefix: /users}}]
              rewrite: {uriRegexRewrite: {match: "^/users/([0-9]+)/orders$", rewrite: "/orders?user=\\\\1"}}
              route: [{destination: {host: orders}}]
            """)
        #expect(routes.problems.isEmpty, "\(routes.problems)")
        let api = try Self.forwarded(routes.decide(Self.request("/api/v1/items?page=2")))
        #expect(api.head.uri == "/v1/items?page=2")
        #expect(api.head.headers["host"] == ["api.internal"])
        #expect(try Self.forwarded(routes.decide(Self.request("/old?x=1"))).head.uri == "/new?x=1", "an exact match's whole path is replaced")
        #expect(try Self.forwarded(routes.decide(Self.request("/users/42/orders"))).head.uri == "/orders?user=42",
                "a regex rewrite substitutes its groups")
    }

    @Test func redirectsAndDirectResponsesAreAnsweredByTheGateway() throws {
        let routes = try Self.routes("""
            - match: [{uri: {prefix: /old-shop}}]
              redirect: {uri: /shop, authority: www.example.com, redirectCode: 308}
            - match: [{uri: {prefix: /secure}}]
              redirect: {scheme: https, port: 8443}
            - match: [{uri: {exact: /healthz}}]
              directResponse: {status: 200, body: {string: "ok"}}
            - match: [{uri: {exact: /gone}}]
              directResponse: {status: 410}
            """)
        #expect(routes.problems.isEmpty, "\(routes.problems)")
        let moved = try Self.reply(routes.decide(Self.request("/old-shop/cart?item=3", host: "shop.example.com:8080")))
        #expect(moved.status.code == 308)
        #expect(moved.location == "http://www.example.com/shop?item=3", "the authority is replaced whole; the query is kept")
        let sameHost = try Self.reply(routes.decide(Self.request("/secure", host: "shop.example.com:8080")))
        #expect(sameHost.location == "https://shop.example.com:8443/secure")
        let secure = try Self.reply(routes.decide(Self.request("/secure/login")))
        #expect(secure.status.code == 301)
        #expect(secure.location == "https://shop.example.com:8443/secure/login")
        let health = try Self.reply(routes.decide(Self.request("/healthz")))
        #expect(health.status == .ok && health.body == "ok")
        #expect(try Self.reply(routes.decide(Self.request("/gone"))).status.code == 410)
    }

    @Test func headerEditsApplyToTheRequestAndArePassedOnForTheResponse() throws {
        let routes = try Self.routes("""
            - headers:
                request:
                  set: {x-env: edge}
                  add: {x-trace: gateway}
                  remove: [x-debug]
                response:
                  set: {cache-control: no-store}
                  remove: [server]
              route: [{destination: {host: cart}}]
            """)
        let forwarded = try Self.forwarded(routes.decide(Self.request(headers: [
            ("X-Env", "laptop"), ("X-Env", "other"), ("X-Trace", "client"), ("X-Debug", "1"),
        ])))
        #expect(forwarded.head.headers["x-env"] == ["edge"], "set replaces every value")
        #expect(forwarded.head.headers["x-trace"] == ["client", "gateway"], "add keeps what was there")
        #expect(!forwarded.head.headers.contains(name: "x-debug"))
        #expect(forwarded.policy.responseEdits == [.remove("server"), .set("cache-control", "no-store")])
    }

    @Test func corsPreflightsFromAllowedOriginsAreAnsweredAndOthersPassThrough() throws {
        let routes = try Self.routes("""
            - corsPolicy:
                allowOrigins: [{exact: "https://app.example.com"}, {regex: "https://.*\\\\.example\\\\.org"}]
                allowMethods: [GET, POST]
                allowHeaders: [content-type, authorization]
                exposeHeaders: [x-request-id]
                maxAge: 24h
                allowCredentials: true
              route: [{destination: {host: cart}}]
            """)
        #expect(routes.problems.isEmpty, "\(routes.problems)")
        let preflight = try Self.reply(routes.decide(Self.request("/cart", method: .OPTIONS, headers: [
            ("Origin", "https://shop.example.org"), ("Access-Control-Request-Method", "POST"),
        ])))
        #expect(preflight.status == .ok)
        #expect(preflight.headers.map { "\($0.name): \($0.value)" } == [
            "Access-Control-Allow-Origin: https://shop.example.org", "Access-Control-Allow-Methods: GET,POST",
            "Access-Control-Allow-Headers: content-type,authorization", "Access-Control-Max-Age: 86400",
            "Access-Control-Allow-Credentials: true",
        ])
        let stranger = routes.decide(Self.request("/cart", method: .OPTIONS, headers: [
            ("Origin", "https://evil.example.net"), ("Access-Control-Request-Method", "POST"),
        ]))
        #expect(try Self.forwarded(stranger).policy.responseEdits.isEmpty, "an origin not allowed gets no CORS header; the backend answers")
        let actual = try Self.forwarded(routes.decide(Self.request("/cart", headers: [("Origin", "https://app.example.com")])))
        #expect(actual.policy.responseEdits == [
            .set("Access-Control-Allow-Origin", "https://app.example.com"), .set("Access-Control-Allow-Credentials", "true"),
            .set("Access-Control-Expose-Headers", "x-request-id"),
        ])
    }

    @Test func timeoutsAndRetriesAreReadAsIstioDefinesThem() throws {
        let routes = try Self.routes("""
            - match: [{uri: {prefix: /slow}}]
              timeout: 1.5s
              retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "gateway-error,409"}
              route: [{destination: {host: slow}}]
            - match: [{uri: {prefix: /once}}]
              retries: {attempts: 0}
              route: [{destination: {host: once}}]
            - match: [{uri: {prefix: /bad}}]
              timeout: soon
              route: [{destination: {host: bad}}]
            - route: [{destination: {host: cart}}]
            """)
        #expect(routes.problems.count == 1 && routes.problems[0].hasPrefix(#"VirtualService shop/shop http[2]: timeout "soon" is not a duration"#),
                "\(routes.problems)")
        let slow = try Self.forwarded(routes.decide(Self.request("/slow"))).policy
        #expect(slow.timeout == .milliseconds(1500))
        #expect(slow.retry.attempts == 3 && slow.retry.perTryTimeout == .milliseconds(500))
        #expect(slow.retry.retries(status: 502) && slow.retry.retries(status: 409) && !slow.retry.retries(status: 500))
        #expect(!(try Self.forwarded(routes.decide(Self.request("/once"))).policy.retry.retries(status: 503)))
        let plain = try Self.forwarded(routes.decide(Self.request("/"))).policy
        #expect(plain.timeout == nil, "Istio sets no route timeout by default")
        #expect(plain.retry == .istioDefault && plain.retry.retries(status: 503) && !plain.retry.retries(status: 500),
                "Istio's default: two more tries on a 503")
    }

    /// The sim's agents read objects the test API server wrote: every field must survive.
    @Test func everyModelledFieldSurvivesEncoding() throws {
        let yaml = """
            apiVersion: networking.istio.io/v1beta1
            kind: VirtualService
            metadata: {name: shop, namespace: shop}
            spec:
              hosts: [shop.example.com]
              http:
              - name: all
                match: [{uri: {prefix: /a}, method: {exact: GET}, headers: {x-a: {}, x-b: {exact: b}}, queryParams: {q: {regex: "[0-9]+"}},
                         withoutHeaders: {x-c: {}}, authority: {exact: shop}, scheme: {exact: http}, port: 80, ignoreUriCase: true}]
                rewrite: {uri: /b, authority: other}
                timeout: 2s
                retries: {attempts: 1, perTryTimeout: 1s, retryOn: 5xx}
                headers: {request: {set: {a: b}}, response: {add: {c: d}, remove: [e]}}
                corsPolicy: {allowOrigins: [{prefix: "https://"}], allowMethods: [GET], maxAge: 1m, allowCredentials: false}
                route: [{destination: {host: cart}}]
              - redirect: {uri: /x, redirectCode: 302}
              - directResponse: {status: 503, body: {string: down}}
            """
        let original = try KubernetesDecoder.decode(VirtualService.self, yaml: yaml)
        let data = try JSONEncoder().encode(original)
        let decoded = try KubernetesDecoder.decode(VirtualService.self, json: [UInt8](data))
        #expect(decoded == original)
        #expect(original.spec.http[0].match[0].headers["x-a"] == .present)
    }
}

struct RouteTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
