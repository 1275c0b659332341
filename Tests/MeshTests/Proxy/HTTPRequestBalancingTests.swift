import Mesh
import NIOCore
import NIOHTTP1
import Testing

@testable import NetSim

/// Policies that hash on a request field balance every request of a keep-alive connection, not
/// just its first: a client that keeps its connection open still reaches the replica each
/// request's header, cookie or query parameter hashes to.
@Suite struct HTTPRequestBalancingTests {
    typealias Bench = ProxyTestBed

    static func headerHashBench(_ configuration: ServiceProxy.Configuration = .init()) throws -> Bench {
        try Bench(
            configuration: configuration,
            extraObjects: [try Bench.destinationRule(for: "web", "consistentHash: {httpHeaderName: x-user}")])
    }

    static let users = (0..<9).map { "user-\($0)" }

    /// The replica each user reaches on a connection of its own.
    static func podsOnFreshConnections(_ bench: Bench, headers: (String) -> [String] = { ["X-User: \($0)"] }, target: (String) -> String = { _ in "/" }) throws -> [String] {
        try users.map { try #require(Bench.podName(try bench.httpRequest(target: target($0), headers: headers($0)))) }
    }

    @Test func headerHashChoosesPerRequestOnOneKeepAliveConnection() throws {
        let bench = try Self.headerHashBench()
        let expected = try Self.podsOnFreshConnections(bench)
        #expect(Set(expected).count == 3, "\(expected)")
        let client = try KeepAliveHTTPClient(bench: bench)
        for _ in 0..<2 {
            for (user, pod) in zip(Self.users, expected) {
                #expect(try client.get(headers: [("X-User", user)]).pod == pod, "\(user)")
            }
        }
        #expect(!client.closed)
        client.close()
    }

    @Test func queryParameterHashChoosesPerRequestOnOneKeepAliveConnection() throws {
        let bench = try Bench(extraObjects: [try Bench.destinationRule(for: "web", "consistentHash: {httpQueryParameterName: user}")])
        let expected = try Self.podsOnFreshConnections(bench, headers: { _ in [] }, target: { "/page?user=\($0)" })
        #expect(Set(expected).count == 3, "\(expected)")
        let client = try KeepAliveHTTPClient(bench: bench)
        for (user, pod) in zip(Self.users, expected) {
            #expect(try client.get("/page?user=\(user)").pod == pod, "\(user)")
        }
    }

    @Test func cookieHashSetsTheCookieOnEachResponseWhoseRequestHadNone() throws {
        let bench = try Bench(extraObjects: [try Bench.destinationRule(
            for: "web", "consistentHash: {httpCookie: {name: session, path: /, ttl: 60s}}")])
        let client = try KeepAliveHTTPClient(bench: bench)
        var cookies: [String: String] = [:]
        for _ in 0..<12 {
            let response = try client.get()
            let setCookie = try #require(response.head.headers["Set-Cookie"].first)
            #expect(setCookie.hasSuffix("; Path=/; Max-Age=60; HttpOnly"))
            cookies[String(setCookie.split(separator: ";")[0])] = try #require(response.pod)
        }
        // Fresh cookies spread over the replicas; each then keeps its client on its replica.
        #expect(Set(cookies.values).count == 3, "\(cookies)")
        for (cookie, pod) in cookies.sorted(by: { $0.key < $1.key }) {
            let response = try client.get(headers: [("Cookie", cookie)])
            #expect(response.pod == pod)
            #expect(response.head.headers["Set-Cookie"].isEmpty)
        }
        #expect(!client.closed)
    }

    @Test func pipelinedRequestsAreAnsweredInOrderEachByItsReplica() throws {
        let bench = try Self.headerHashBench()
        let expected = try Self.podsOnFreshConnections(bench)
        var requests = ByteBuffer()
        for user in Self.users { requests.writeString("GET / HTTP/1.1\r\nHost: web\r\nX-User: \(user)\r\n\r\n") }
        // All nine in one write, then the client's half-close: every one is still answered.
        let result = try bench.exchange("10.96.0.10", port: 80, [requests])
        let responses = String(buffer: result.received).components(separatedBy: "HTTP/1.1 ").dropFirst()
        #expect(responses.map { Bench.podName(String($0)) } == expected.map(Optional.some))
        #expect(responses.allSatisfy { $0.hasPrefix("200 OK") })
        #expect(result.closed)
    }

    @Test func chunkedAndCloseDelimitedResponsesPassIntact() throws {
        let bench = try Bench(extraObjects: [
            Bench.service("raw", "10.96.0.15", [ServicePort(name: "http", port: 80, targetPort: .number(9000))]),
            try Bench.destinationRule(for: "raw", "consistentHash: {httpHeaderName: x-user}"),
        ])
        for name in ["pod-1", "pod-2", "pod-3"] { CannedHTTPBackend.start(on: try #require(bench.sim.host(named: name)), port: 9000) }
        let addresses = ["pod-1", "pod-2", "pod-3"].map { Endpoints.Address(ip: bench.sim.resolve($0)!.description, nodeName: $0) }
        bench.table.apply(.upsert(.endpoints(Endpoints(
            metadata: ObjectMeta(name: "raw", namespace: "default"),
            subsets: [Endpoints.Subset(addresses: addresses, ports: [Endpoints.Port(name: "http", port: 9000)])]))))
        bench.sim.run(for: Bench.ms)
        let body = CannedHTTPBackend.body(size: CannedHTTPBackend.bodySize)
        let client = try KeepAliveHTTPClient(bench: bench, address: "10.96.0.15")
        for user in Self.users.prefix(4) {
            let chunked = try client.get("/chunked", headers: [("X-User", user)])
            #expect(chunked.head.headers["Transfer-Encoding"] == ["chunked"])
            #expect(chunked.body == body)
        }
        #expect(!client.closed)
        let closeDelimited = try client.get("/close", headers: [("X-User", "user-0")])
        #expect(closeDelimited.body == body)
        // Its end was the close: the client sees the connection close after it.
        bench.sim.run(for: Bench.s)
        #expect(client.closed)
    }

    @Test func aHeadResponseCarriesNoBodyAndTheConnectionGoesOn() throws {
        let bench = try Self.headerHashBench()
        let client = try KeepAliveHTTPClient(bench: bench)
        let head = try client.get(method: .HEAD, headers: [("X-User", "alice")])
        #expect(head.head.status == .ok)
        #expect(head.head.headers["Content-Length"] == ["5"])
        #expect(head.body.isEmpty)
        let get = try client.get(headers: [("X-User", "alice")])
        #expect(get.pod != nil)
        #expect(!client.closed)
    }

    @Test func requestBodiesStreamToTheBackendAndLeaveItsConnectionInStep() throws {
        let bench = try Self.headerHashBench()
        let expected = try Self.podsOnFreshConnections(bench)
        let client = try KeepAliveHTTPClient(bench: bench)
        let upload = ByteBuffer(repeating: 0x61, count: 300_000)
        for (user, pod) in zip(Self.users, expected) {
            let chunked = try client.get(method: .POST, headers: [("X-User", user), ("Transfer-Encoding", "chunked")], body: upload)
            #expect(chunked.pod == pod, "\(user)")
            let sized = try client.get(
                method: .PUT, headers: [("X-User", user), ("Content-Length", "\(upload.readableBytes)")], body: upload)
            #expect(sized.pod == pod, "\(user)")
        }
        #expect(!client.closed)
    }

    @Test func webSocketUpgradeUnderAHeaderHashPolicyStillWorks() throws {
        let bench = try Bench(extraObjects: [try Bench.destinationRule(for: "ws", "consistentHash: {httpHeaderName: x-user}")])
        let log = bench.runClient(.websocket, "10.96.0.13:80", count: 6)
        #expect(log.succeeded == 6, "\(log.failureReasons)")
    }

    @Test func anUpgradeTheBackendDeclinesIsAnsweredThenTheConnectionCloses() throws {
        let bench = try Self.headerHashBench()
        // The hostname server has no WebSocket: it answers the request as a plain GET.
        let result = try bench.exchange(
            "10.96.0.10", port: 80,
            [ByteBuffer(string: "GET / HTTP/1.1\r\nHost: web\r\nX-User: alice\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")],
            halfClose: false, allowHalfClosure: false)
        let response = String(buffer: result.received)
        #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(Bench.podName(response) != nil)
        #expect(result.closed)
    }

    @Test func anHTTP2PriorKnowledgeConnectionIsSplicedUnread() throws {
        let bench = try Bench(extraObjects: [try Bench.destinationRule(for: "echo", "consistentHash: {httpHeaderName: x-user}")])
        // The HTTP/2 connection preface (h2c, as gRPC without TLS sends it) and some frame bytes.
        var preface = ByteBuffer(string: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        preface.writeBytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
        let result = try bench.exchange("10.96.0.11", port: 2701, [preface])
        #expect(result.received == preface)
    }

    @Test func aMalformedRequestGetsA400AndTheConnectionCloses() throws {
        let bench = try Self.headerHashBench()
        let result = try bench.exchange(
            "10.96.0.10", port: 80, [ByteBuffer(string: "GET / HTTP/1.1\r\nHost: web\r\nthis is no header\r\n\r\n")],
            halfClose: false, allowHalfClosure: false)
        #expect(String(buffer: result.received).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(result.closed)
    }

    @Test func aServiceWithoutBackendsAnswers503AndOneWithUnreachableBackends502() throws {
        var configuration = ServiceProxy.Configuration()
        configuration.connectTimeout = .milliseconds(300)
        let bench = try Self.headerHashBench(configuration)
        bench.setEndpoints([])
        bench.sim.run(for: Bench.ms)
        let empty = try bench.httpRequest(headers: ["X-User: alice"])
        #expect(empty.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(empty)")
        #expect(empty.contains("has no ready endpoint"))
        bench.setEndpoints(["pod-1"])
        try bench.sim.crash("pod-1")
        bench.sim.run(for: Bench.ms)
        let unreachable = try bench.httpRequest(headers: ["X-User: alice"])
        #expect(unreachable.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "\(unreachable)")
        #expect(unreachable.contains("no backend could be reached"))
    }

    @Test func aClientThatSendsNoCompleteHeadIsClosedAfterTheTimeout() throws {
        var configuration = ServiceProxy.Configuration()
        configuration.requestHeadTimeout = .seconds(2)
        let bench = try Self.headerHashBench(configuration)
        let start = bench.sim.now
        let result = try bench.exchange(
            "10.96.0.10", port: 80, [ByteBuffer(string: "GET / HTTP/1.1\r\nHost: we")], halfClose: false,
            allowHalfClosure: false)
        #expect(result.closed)
        #expect(result.received.readableBytes == 0)
        #expect(bench.sim.now - start >= 2 * Bench.s)
    }

    @Test func aRequestHeadOverTheLimitGets400() throws {
        var configuration = ServiceProxy.Configuration()
        configuration.maximumRequestHeadLength = 1024
        let bench = try Self.headerHashBench(configuration)
        let small = try bench.httpRequest(headers: ["X-User: alice"])
        #expect(small.hasPrefix("HTTP/1.1 200 OK\r\n"))
        let large = try bench.httpRequest(headers: ["X-User: alice", "X-Padding: " + String(repeating: "p", count: 2000)])
        #expect(large.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(large)")
    }
}
