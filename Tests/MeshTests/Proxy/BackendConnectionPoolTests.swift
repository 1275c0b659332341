import Mesh
import NIOCore
import NIOHTTP1
import Testing

@testable import NetSim
@testable import Scenario

/// Request-balanced client connections leave their idle backend connections to the proxy's
/// pool, so the next client sends its request on a warm connection rather than dialling one,
/// within the limits an attacker cannot push past: so many per backend, so long idle.
@Suite struct BackendConnectionPoolTests {
    typealias Bench = ProxyTestBed

    @Test func clientsThatCloseLeaveTheirBackendConnectionToTheNext() throws {
        let bench = try HTTPRequestBalancingTests.headerHashBench()
        // `httpRequest` sends `Connection: close`: the client's connection ends with its
        // response, the backend's does not (the header is the client's, not forwarded).
        let responses = try (0..<8).map { _ in try bench.httpRequest(headers: ["X-User: user-0"]) }
        #expect(responses.allSatisfy { $0.lowercased().contains("\r\nconnection: close\r\n") },
                "the client still reads that its connection ends, as it asked")
        let pods = try responses.map { try #require(Bench.podName($0)) }
        #expect(Set(pods).count == 1, "one user, one replica: \(pods)")
        #expect(bench.proxy.statistics.backendConnectionsReused == 7, "the first request dials, the other seven reuse its connection")
        #expect(bench.proxy.idleBackendConnectionCount == 1)
    }

    @Test func idleConnectionsAreHeldToTheLimitAndTheTimeout() throws {
        let bench = try HTTPRequestBalancingTests.headerHashBench(
            .init(maximumIdleConnectionsPerBackend: 2, backendIdleTimeout: .seconds(30)))
        // Five clients at once to one replica: five backend connections in use.
        let clients = try (0..<5).map { _ in try KeepAliveHTTPClient(bench: bench) }
        for client in clients { #expect(try client.get(headers: [("X-User", "user-0")]).pod != nil) }
        #expect(bench.proxy.idleBackendConnectionCount == 0, "a kept-alive client keeps its own")
        for client in clients { client.close() }
        #expect(bench.proxy.idleBackendConnectionCount == 2, "two kept, three closed")
        bench.sim.run(for: 31 * Bench.s)
        #expect(bench.proxy.idleBackendConnectionCount == 0, "closed after 30 s idle")
        #expect(Bench.podName(try bench.httpRequest(headers: ["X-User: user-0"])) != nil, "a new connection is dialled")
    }

    /// A replica that restarts behind an idle pooled connection (a node losing power: no FIN)
    /// leaves the connection stale; the next request on it is reset before any answer and is
    /// sent again on a new connection to the same replica, not answered 502.
    @Test func aRequestOnAConnectionTheBackendLostIsSentAgainOnANewOne() throws {
        let bench = try HTTPRequestBalancingTests.headerHashBench()
        let pod = try #require(Bench.podName(try bench.httpRequest(headers: ["X-User: user-0"])))
        #expect(bench.proxy.idleBackendConnectionCount == 1)
        // Past every acknowledgement of that exchange: nothing is in flight when the pod dies.
        bench.sim.run(for: Bench.s)
        try bench.sim.crash(pod)
        try bench.sim.onBoot(of: pod) { HTTPServerWorkload.start(on: $0, port: 8080, podName: pod) }
        try bench.sim.boot(pod)
        let response = try bench.httpRequest(headers: ["X-User: user-0"])
        #expect(bench.proxy.statistics.backendConnectionsReused == 1, "the pooled connection was tried first")
        #expect(response.hasPrefix("HTTP/1.1 200"), "\(response)")
        #expect(Bench.podName(response) == pod, "the same replica, on a new connection")
        #expect(bench.proxy.statistics.requestRetries == 0, "not one of the route's retries")
    }

    /// An HTTP/1.0 client that does not ask for keep-alive has its request forwarded as it was
    /// written; the backend then closes, and nothing is pooled.
    @Test func anHTTP10RequestWithoutKeepAliveLeavesNothingInThePool() throws {
        let bench = try HTTPRequestBalancingTests.headerHashBench()
        let request = ByteBuffer(string: "GET / HTTP/1.0\r\nHost: web\r\nX-User: user-0\r\n\r\n")
        let result = try bench.exchange("10.96.0.10", port: 80, [request], halfClose: false, allowHalfClosure: false)
        #expect(String(buffer: result.received).hasPrefix("HTTP/1."), "\(String(buffer: result.received))")
        #expect(result.closed)
        #expect(bench.proxy.idleBackendConnectionCount == 0)
    }
}
