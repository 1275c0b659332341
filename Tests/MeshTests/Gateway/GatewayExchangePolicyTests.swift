import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim
@testable import Scenario

/// A route's timeout, retries and response edits, carried out by the gateway on the wire: a
/// failing replica hidden by retries, a slow one cut off with a 504 or passed over after its
/// per-try timeout, headers and CORS added to responses, a direct response answered whole.
@Suite struct GatewayExchangePolicyTests {
    typealias Bed = ProxyTestBed
    static let s = Nanoseconds.second
    static let ms = Nanoseconds.millisecond

    /// The bed as a gateway on port 8000 with `routes` (the `http` list of one VirtualService),
    /// and three services whose pods (pod-1, pod-2, pod-3) answer as given: `flaky` (pod-1 a
    /// 503, the others 200), `slow` (every pod after 3 s), `mixed` (pod-1 after 3 s, the others at once).
    static func gateway(_ bed: Bed, routes: String) throws -> IngressGateway {
        let answers: [(service: String, port: UInt16, answers: [HTTPServerWorkload.Answer])] = [
            ("flaky", 9080, [.init(status: 503), .init(), .init()]),
            ("slow", 9081, Array(repeating: .init(delay: .seconds(3)), count: 3)),
            ("mixed", 9082, [.init(delay: .seconds(3)), .init(), .init()]),
        ]
        var manifests = GatewayLimitsTests.istioObjects(http: routes)
        for (index, service) in answers.enumerated() {
            var addresses: [String] = []
            for (pod, answer) in zip(["pod-1", "pod-2", "pod-3"], service.answers) {
                HTTPServerWorkload.start(on: try #require(bed.sim.host(named: pod)), port: service.port, podName: pod, answer: answer)
                addresses.append("{ip: \(try #require(bed.sim.resolve(pod))), nodeName: \(pod)}")
            }
            manifests += """
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: \(service.service), namespace: default}
                spec: {clusterIP: 10.96.1.\(index + 1), ports: [{name: http, port: 80, targetPort: \(service.port)}]}
                ---
                apiVersion: v1
                kind: Endpoints
                metadata: {name: \(service.service), namespace: default}
                subsets: [{addresses: [\(addresses.joined(separator: ", "))], ports: [{name: http, port: \(service.port)}]}]

                """
        }
        return try GatewayLimitsTests.gateway(bed, .init(), manifests: manifests)
    }

    /// One request from pod-4 on its own connection; the raw response and when it was complete.
    static func request(_ bed: Bed, _ target: String = "/", headers: [String] = []) throws -> (response: String, took: UInt64) {
        let start = bed.sim.now
        let (channel, recorder) = try GatewayLimitsTests.connect(bed, from: "pod-4", port: 8000)
        var text = "GET \(target) HTTP/1.1\r\nHost: shop.example.com\r\n"
        for header in headers { text += header + "\r\n" }
        channel.writeAndFlush(ByteBuffer(string: text + "Connection: close\r\n\r\n"), promise: nil)
        bed.sim.run(until: bed.sim.now + 10 * Self.s) { !recorder.closed }
        return (String(buffer: recorder.bytes), bed.sim.now - start)
    }

    static func status(_ response: String) -> String { String(response.prefix(12)) }

    /// Lets the slow pods' late answers go out: a task still scheduled when the simulator ends
    /// is a leaked promise.
    static func finish(_ bed: Bed) {
        bed.sim.run(until: bed.sim.now + 4 * Self.s)
    }

    /// The route to a destination is worked out once per change of the table, not per request:
    /// a service that goes and comes back is followed at once all the same.
    @Test func aDestinationFollowsItsServiceThroughTableChanges() throws {
        let bed = try Bed()
        let gateway = try GatewayLimitsTests.gateway(bed, .init())
        #expect(Self.status(try Self.request(bed).response) == "HTTP/1.1 200")
        let web = try #require(ProxyTestBed.services.first)
        bed.table.apply(.delete(web))
        let gone = try Self.request(bed).response
        #expect(Self.status(gone) == "HTTP/1.1 503" && gone.contains("not a service of this cluster"), "\(gone)")
        bed.table.apply(.upsert(web))
        bed.sim.run(for: Self.s)
        #expect(Self.status(try Self.request(bed).response) == "HTTP/1.1 200")
        withExtendedLifetime(gateway) {}
    }

    @Test func retriesHideAFailingReplica() throws {
        let bed = try Bed()
        let gateway = try Self.gateway(bed, routes: """
            - match: [{uri: {prefix: /once}}]
              retries: {attempts: 0}
              route: [{destination: {host: flaky}}]
            - route: [{destination: {host: flaky}}]
            """)
        var statuses: [String: Int] = [:]
        for _ in 0..<30 { statuses[Self.status(try Self.request(bed).response), default: 0] += 1 }
        #expect(statuses == ["HTTP/1.1 200": 30], "Istio's default retries take every 503 to another replica: \(statuses)")
        #expect(bed.proxy.statistics.requestRetries > 0, "pod-1 was chosen and passed over")
        var unretried: [String: Int] = [:]
        for _ in 0..<30 { unretried[Self.status(try Self.request(bed, "/once").response), default: 0] += 1 }
        #expect((unretried["HTTP/1.1 503"] ?? 0) > 0, "with retries off the client sees the replica's 503: \(unretried)")
        Self.finish(bed)
        withExtendedLifetime(gateway) {}
    }

    @Test func aRouteTimeoutAnswers504() throws {
        let bed = try Bed()
        let gateway = try Self.gateway(bed, routes: """
            - timeout: 1s
              route: [{destination: {host: slow}}]
            """)
        let (response, took) = try Self.request(bed)
        #expect(Self.status(response) == "HTTP/1.1 504", "\(response)")
        #expect(response.hasSuffix("upstream request timeout (1s)\n") || response.contains("upstream request timeout"), "\(response)")
        #expect(took >= 1 * Self.s && took < 2 * Self.s, "answered when the timeout passed, not when the backend would have: \(took)")
        #expect(bed.proxy.statistics.requestTimeouts == 1)
        Self.finish(bed)
        withExtendedLifetime(gateway) {}
    }

    @Test func aTryThatOutlivesItsPerTryTimeoutGoesToAnotherReplica() throws {
        let bed = try Bed()
        let gateway = try Self.gateway(bed, routes: """
            - timeout: 2s
              retries: {attempts: 2, perTryTimeout: 300ms, retryOn: gateway-error}
              route: [{destination: {host: mixed}}]
            """)
        var slowest: UInt64 = 0
        for _ in 0..<20 {
            let (response, took) = try Self.request(bed)
            #expect(Self.status(response) == "HTTP/1.1 200", "\(response)")
            slowest = max(slowest, took)
        }
        #expect(slowest < 1 * Self.s, "pod-1's 3 s answer is never waited for: \(slowest / Self.ms) ms")
        #expect(bed.proxy.statistics.requestRetries > 0)
        Self.finish(bed)
        withExtendedLifetime(gateway) {}
    }

    @Test func responseHeadersAndCORSAreAddedOnTheWayBack() throws {
        let bed = try Bed()
        let gateway = try Self.gateway(bed, routes: """
            - headers: {response: {set: {cache-control: no-store}, remove: [content-type]}}
              corsPolicy: {allowOrigins: [{exact: "https://app.example.com"}], exposeHeaders: [x-pod]}
              route: [{destination: {host: web}}]
            """)
        let (response, _) = try Self.request(bed, headers: ["Origin: https://app.example.com"])
        let head = response.components(separatedBy: "\r\n\r\n")[0].lowercased()
        #expect(head.hasPrefix("http/1.1 200"))
        #expect(head.contains("\r\ncache-control: no-store"), "\(head)")
        #expect(!head.contains("content-type"), "\(head)")
        #expect(head.contains("\r\naccess-control-allow-origin: https://app.example.com"), "\(head)")
        #expect(head.contains("\r\naccess-control-expose-headers: x-pod"), "\(head)")
        let (stranger, _) = try Self.request(bed, headers: ["Origin: https://evil.example.net"])
        #expect(!stranger.lowercased().contains("access-control-allow-origin"), "another origin gets no allow header")
        Self.finish(bed)
        withExtendedLifetime(gateway) {}
    }

    @Test func aDirectResponseIsAnsweredWhole() throws {
        let bed = try Bed()
        let gateway = try Self.gateway(bed, routes: """
            - match: [{uri: {exact: /healthz}}]
              directResponse: {status: 200, body: {string: "ok"}}
            - route: [{destination: {host: web}}]
            """)
        let (response, _) = try Self.request(bed, "/healthz")
        #expect(response == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        Self.finish(bed)
        withExtendedLifetime(gateway) {}
    }
}
