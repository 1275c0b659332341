import Mesh
import NIOCore
@testable import Scenario
import Testing

@testable import NetSim

/// The service proxy on a simulated node: a client dials a cluster IP, the node's interception
/// hands the connection to the proxy, and the proxy carries it to one of three replicas.
@Suite struct ServiceProxyTests {
    typealias Bench = ProxyTestBed
    static let s = Bench.s
    static let ms = Bench.ms

    static func counts(_ log: RequestLog) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: log.backendCounts.map { ($0.backend, $0.count) })
    }

    // MARK: Interception

    @Test func interceptsEveryServicePortWithOneRuleSet() throws {
        let bench = try Bench()
        let rules = bench.proxy.appliedRules
        #expect(rules.map(\.description).count == 5)
        let tcpPorts = Set(rules.filter { $0.transport == .tcp }.map(\.localPort))
        #expect(tcpPorts == [bench.proxy.streamPort!])
        let udp = try #require(rules.first { $0.transport == .udp })
        #expect(udp.serviceAddress == IPv4Address(10, 96, 0, 12) && udp.servicePort == 5000)
        #expect(udp.localPort != bench.proxy.streamPort)

        // A deleted service stops being intercepted.
        bench.table.apply(.delete(Bench.services[3]))
        bench.sim.run(for: Self.ms)
        #expect(bench.proxy.appliedRules.count == 4)
        #expect(!bench.proxy.appliedRules.contains { $0.serviceAddress == IPv4Address(10, 96, 0, 13) })
    }

    // MARK: Policies end to end

    @Test func roundRobinSpreadsHTTPEvenlyOverThreeReplicas() throws {
        let bench = try Bench()
        let log = bench.runClient(.http, "10.96.0.10:80", count: 30)
        #expect(log.succeeded == 30, "\(log.failureReasons)")
        #expect(Self.counts(log) == ["pod-1": 10, "pod-2": 10, "pod-3": 10])
    }

    @Test(arguments: ["simple: RANDOM", "simple: LEAST_REQUEST"])
    func otherSimplePoliciesReachEveryReplica(policy: String) throws {
        let bench = try Bench(extraObjects: [try Bench.destinationRule(for: "web", policy)])
        let log = bench.runClient(.http, "10.96.0.10:80", count: 60)
        #expect(log.succeeded == 60, "\(log.failureReasons)")
        let counts = Self.counts(log)
        #expect(counts.count == 3)
        for (_, count) in counts { #expect(count >= 8, "\(policy): \(counts)") }
    }

    @Test func headerHashKeepsEachUserOnOneReplica() throws {
        let bench = try Bench(extraObjects: [try Bench.destinationRule(for: "web", "consistentHash: {httpHeaderName: x-user}")])
        for user in ["alice", "bob"] {
            let pods = try (0..<6).map { _ in Bench.podName(try bench.httpRequest(headers: ["X-User: \(user)"])) }
            #expect(Set(pods).count == 1 && pods[0] != nil, "\(user): \(pods)")
        }
        let spread = try (0..<30).compactMap { Bench.podName(try bench.httpRequest(headers: ["X-User: user-\($0)"])) }
        #expect(spread.count == 30)
        #expect(Set(spread).count == 3)
    }

    @Test func queryParameterHashKeepsAValueOnOneReplica() throws {
        let bench = try Bench(extraObjects: [try Bench.destinationRule(for: "web", "consistentHash: {httpQueryParameterName: user}")])
        let pods = try (0..<6).map { Bench.podName(try bench.httpRequest(target: "/page/\($0)?user=carol")) }
        #expect(Set(pods).count == 1 && pods[0] != nil, "\(pods)")
    }

    @Test func cookieHashSetsTheCookieThenSticksToIt() throws {
        let bench = try Bench(extraObjects: [try Bench.destinationRule(
            for: "web", "consistentHash: {httpCookie: {name: session, path: /, ttl: 60s}}")])
        let first = try bench.httpRequest()
        let setCookie = try #require(first.split(separator: "\r\n").first { $0.hasPrefix("Set-Cookie: session=") })
        #expect(setCookie.hasSuffix("; Path=/; Max-Age=60; HttpOnly"))
        #expect(first.hasPrefix("HTTP/1.1 200 OK\r\nSet-Cookie: "))
        let value = setCookie.dropFirst("Set-Cookie: ".count).split(separator: ";")[0]
        let firstPod = try #require(Bench.podName(first))
        for _ in 0..<6 {
            let next = try bench.httpRequest(headers: ["Cookie: \(value)"])
            #expect(Bench.podName(next) == firstPod)
            #expect(!next.contains("Set-Cookie"))
        }
    }

    @Test func sourceIPHashKeepsAClientOnOneReplica() throws {
        let bench = try Bench(extraObjects: [try Bench.destinationRule(for: "web", "consistentHash: {useSourceIp: true}")])
        let log = bench.runClient(.http, "10.96.0.10:80", count: 12)
        #expect(log.succeeded == 12)
        #expect(log.backendCounts.count == 1, "\(log.backendCounts)")
    }

    @Test func clientIPSessionAffinityHoldsPerClientUntilTimeout() throws {
        let bench = try Bench(extraObjects: [Bench.service(
            "web", "10.96.0.10", [ServicePort(name: "http", port: 80, targetPort: .number(8080))],
            affinity: .clientIP, affinityTimeout: 5)])
        let sticky = bench.runClient(.http, "10.96.0.10:80", count: 10, interval: 1 * Self.s)
        #expect(sticky.succeeded == 10)
        #expect(sticky.backendCounts.count == 1, "\(sticky.backendCounts)")
        // Requests 6 s apart outlive the 5 s affinity: round robin moves on each time.
        let spaced = bench.runClient(.http, "10.96.0.10:80", count: 3, interval: 6 * Self.s)
        #expect(spaced.succeeded == 3)
        #expect(spaced.backendCounts.count == 3, "\(spaced.backendCounts)")
    }

    @Test func internalTrafficPolicyLocalUsesOnlyThisNodesBackends() throws {
        let bench = try Bench(extraObjects: [Bench.service(
            "web", "10.96.0.10", [ServicePort(name: "http", port: 80, targetPort: .number(8080))], trafficPolicy: .local)])
        // No endpoint on the edge node: nothing may leave it.
        let refused = bench.runClient(.http, "10.96.0.10:80", count: 3)
        #expect(refused.succeeded == 0)
        #expect(bench.proxy.statistics.streamsRefused == 3)
        // A pod on the edge node itself takes all the traffic.
        HTTPServerWorkload.start(on: bench.edge, port: 8080, podName: "pod-4")
        let local = Endpoints.Address(ip: bench.edge.address.description, nodeName: "edge")
        let remote = ["pod-1", "pod-2"].map { Endpoints.Address(ip: bench.sim.resolve($0)!.description, nodeName: $0) }
        bench.table.apply(.upsert(.endpoints(Endpoints(
            metadata: ObjectMeta(name: "web", namespace: "default"),
            subsets: [Endpoints.Subset(addresses: remote + [local], ports: [Endpoints.Port(name: "http", port: 8080)])]))))
        let log = bench.runClient(.http, "10.96.0.10:80", count: 6)
        #expect(Self.counts(log) == ["pod-4": 6])
    }

    // MARK: Protocols

    @Test func tcpEchoOn2701CarriesBulkDataBothWaysAndHalfCloses() throws {
        let bench = try Bench()
        var chunks: [ByteBuffer] = []
        var expected = ByteBuffer()
        for index in 0..<100 {
            var chunk = ByteBuffer()
            for offset in 0..<1000 { chunk.writeInteger(UInt8(truncatingIfNeeded: index &* 7 &+ offset)) }
            expected.writeImmutableBuffer(chunk)
            chunks.append(chunk)
        }
        let result = try bench.exchange("10.96.0.11", port: 2701, chunks)
        #expect(result.received == expected)
        // The client's half-close reached the echo server, which closed, which closed the client.
        #expect(result.closed)
    }

    @Test func udpEchoKeepsDatagramBoundariesAndAnswersFromTheServiceAddress() throws {
        let bench = try Bench()
        let replies = ProxyTestBox<[AddressedEnvelope<ByteBuffer>]>()
        replies.value = []
        let bound = ProxyTestBox<Channel>()
        bench.edge.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 0))) {
            $0.pipeline.addHandler(EnvelopeCollector { replies.value!.append($0) })
        }.whenSuccess { bound.value = $0 }
        bench.sim.run(for: Self.ms)
        let socket = try #require(bound.value)
        let service = try SocketAddress(ipAddress: "10.96.0.12", port: 5000)
        let sizes = [1, 1200, 3, 512, 0, 60000]
        for (index, size) in sizes.enumerated() {
            socket.writeAndFlush(AddressedEnvelope(
                remoteAddress: service, data: ByteBuffer(repeating: UInt8(index), count: size)), promise: nil)
        }
        bench.sim.run(until: bench.sim.now + 5 * Self.s) { replies.value!.count < sizes.count }
        let received = replies.value!
        #expect(received.map(\.data.readableBytes).sorted() == sizes.sorted())
        #expect(received.allSatisfy { $0.remoteAddress == service })
        #expect(received.allSatisfy { envelope in Set(envelope.data.readableBytesView).count <= 1 })
        #expect(bench.proxy.statistics.datagramSessionsOpened == 1)
    }

    @Test func udpSessionsEndAfterIdleTimeoutAndEachClientGetsItsOwn() throws {
        var configuration = ServiceProxy.Configuration()
        configuration.datagramSessionIdleTimeout = .seconds(2)
        let bench = try Bench(configuration: configuration)
        let log = bench.runClient(.udp, "10.96.0.12:5000", count: 6, interval: 3 * Self.s)
        #expect(log.succeeded == 6)
        // Every request uses a new socket, so a new session each time; idle ones were closed.
        #expect(bench.proxy.statistics.datagramSessionsOpened == 6)
    }

    @Test func udpSessionsAreCappedPerServicePort() throws {
        var configuration = ServiceProxy.Configuration()
        configuration.maximumDatagramSessionsPerPort = 2
        let bench = try Bench(configuration: configuration)
        let log = bench.runClient(.udp, "10.96.0.12:5000", count: 3, interval: 100 * Self.ms)
        #expect(log.outcomes.map(\.succeeded) == [true, true, false])
        #expect(bench.proxy.statistics.datagramsDropped == 1)
    }

    @Test func webSocketEchoPassesThrough() throws {
        let bench = try Bench()
        let log = bench.runClient(.websocket, "10.96.0.13:80", count: 6)
        #expect(log.succeeded == 6, "\(log.failureReasons)")
    }

    @Test func tlsBytesPassThroughUntouchedEvenWhenThePolicyWantsHTTP() throws {
        let bench = try Bench(extraObjects: [try Bench.destinationRule(for: "secure", "consistentHash: {httpHeaderName: x-user}")])
        // A TLS 1.2 ClientHello record header and a body of arbitrary bytes.
        var hello = ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])
        var random = bench.edge.random
        for _ in 0..<4000 { hello.writeInteger(UInt8.random(in: 0...255, using: &random)) }
        let result = try bench.exchange("10.96.0.14", port: 443, [hello])
        #expect(result.received == hello)
    }

    // MARK: Endpoint changes and failures

    @Test func endpointChangesLeaveEstablishedConnectionsAlone() throws {
        let bench = try Bench()
        let first = try bench.exchange("10.96.0.11", port: 2701, [ByteBuffer(string: "before")], halfClose: false, keepOpen: true)
        #expect(String(buffer: first.received) == "before")
        bench.setEndpoints([])
        bench.sim.run(for: Self.ms)
        first.channel.writeAndFlush(ByteBuffer(string: "after"), promise: nil)
        bench.sim.run(for: Self.s)
        #expect(first.channel.isActive)
        // New connections, though, find no backend.
        let refused = bench.runClient(.tcp, "10.96.0.11:2701", count: 1)
        #expect(refused.succeeded == 0)
    }

    @Test func backendsRemovedAndAddedUnderLoadFailNoRequest() throws {
        let bench = try Bench()
        let start = bench.sim.now
        // pod-3 leaves the endpoints at 2 s and goes down at 3 s (after its drain); pod-4 joins at 4 s.
        bench.sim.schedule(at: start + 2 * Self.s) { bench.setEndpoints(["pod-1", "pod-2"]) }
        bench.sim.schedule(at: start + 3 * Self.s) { try? bench.sim.crash("pod-3") }
        bench.sim.schedule(at: start + 4 * Self.s) { bench.setEndpoints(["pod-1", "pod-2", "pod-4"]) }
        let log = bench.runClient(.http, "10.96.0.10:80", count: 120, interval: 50 * Self.ms)
        #expect(log.succeeded == 120, "\(log.failureReasons)")
        let late = log.outcomes.filter { $0.startedAt.uptimeNanoseconds >= start + 4 * Self.s + 10 * Self.ms }
        #expect(!late.contains { $0.backend == "pod-3" })
        #expect(late.contains { $0.backend == "pod-4" })
    }

    @Test func aBackendThatDiesInPlaceIsRetriedAroundAndEjectedWhereTheRuleAsks() throws {
        var configuration = ServiceProxy.Configuration()
        configuration.connectTimeout = .milliseconds(500)
        let rule = try Bench.destinationRule(for: "web", trafficPolicy: "outlierDetection: {consecutive5xxErrors: 3, baseEjectionTime: 30s, maxEjectionPercent: 100}")
        let bench = try Bench(configuration: configuration, extraObjects: [rule])
        try bench.sim.crash("pod-2")
        let log = bench.runClient(.http, "10.96.0.10:80", count: 30, interval: 200 * Self.ms)
        #expect(log.succeeded == 30, "\(log.failureReasons)")
        #expect(Self.counts(log)["pod-2"] == nil)
        // Three timeouts eject it, after which no request waits for it again.
        #expect(bench.proxy.statistics.dialFailures == 3)
    }

    /// Istio ejects only where a DestinationRule asks for outlier detection. Three replicas that
    /// came up a moment after the agent refused its first requests; once they serve, new
    /// connections spread over all three again (with ejection on by default, all three were
    /// ejected and the first to answer took every connection for 30 s).
    @Test func afterAShortOutageEveryReplicaTakesTrafficAgain() throws {
        var configuration = ServiceProxy.Configuration()
        configuration.connectTimeout = .milliseconds(500)
        let bench = try Bench(configuration: configuration)
        let pods = ["pod-1", "pod-2", "pod-3"]
        for pod in pods { try bench.sim.crash(pod) }
        let outage = bench.runClient(.http, "10.96.0.10:80", count: 4, interval: 500 * Self.ms)
        #expect(outage.succeeded == 0)
        for pod in pods {
            try bench.sim.boot(pod)
            HTTPServerWorkload.start(on: try #require(bench.sim.host(named: pod)), port: 8080, podName: pod)
        }
        let log = bench.runClient(.http, "10.96.0.10:80", count: 12, interval: 200 * Self.ms)
        #expect(log.succeeded == 12, "\(log.failureReasons)")
        #expect(Self.counts(log).keys.sorted() == pods, "\(Self.counts(log))")
    }

    /// With outlier detection and `minHealthPercent: 50` (Envoy's panic threshold): while fewer
    /// than half the replicas are healthy, all of them are balanced over.
    @Test func withOutlierDetectionFewerThanHalfHealthyMeansBalanceOverAll() throws {
        var configuration = ServiceProxy.Configuration()
        configuration.connectTimeout = .milliseconds(500)
        let rule = try Bench.destinationRule(for: "web", trafficPolicy: "outlierDetection: {consecutive5xxErrors: 1, baseEjectionTime: 60s, maxEjectionPercent: 100, minHealthPercent: 50}")
        let bench = try Bench(configuration: configuration, extraObjects: [rule])
        let pods = ["pod-1", "pod-2", "pod-3"]
        for pod in pods { try bench.sim.crash(pod) }
        _ = bench.runClient(.http, "10.96.0.10:80", count: 4, interval: 500 * Self.ms)
        for pod in pods {
            try bench.sim.boot(pod)
            HTTPServerWorkload.start(on: try #require(bench.sim.host(named: pod)), port: 8080, podName: pod)
        }
        let log = bench.runClient(.http, "10.96.0.10:80", count: 12, interval: 200 * Self.ms)
        #expect(log.succeeded == 12, "\(log.failureReasons)")
        #expect(Self.counts(log).count >= 2, "one healthy replica of three is below the panic threshold: \(Self.counts(log))")
    }

    @Test func aConnectionThatReachesTheListenerDirectlyIsRefused() throws {
        let bench = try Bench()
        let result = try bench.exchange("127.0.0.1", port: bench.proxy.streamPort!, [ByteBuffer(string: "hi")])
        #expect(result.closed)
        #expect(result.received.readableBytes == 0)
        #expect(bench.proxy.statistics.streamsRefused == 1)
    }

    @Test func aClientOfAServiceWithNoReachableBackendIsResetNotClosed() throws {
        let bench = try Bench()
        bench.setEndpoints([])
        let result = try bench.exchange("10.96.0.11", port: 2701, [ByteBuffer(string: "hello")], halfClose: false)
        #expect(result.closed)
        #expect(result.received.readableBytes == 0)
        // A graceful close would read as an empty answer; the reset says the request failed.
        #expect(result.error as? HostError == .connectionReset)
        #expect(bench.proxy.statistics.streamsRefused == 1)
    }

    @Test func sameSeedSameChoices() throws {
        func run() throws -> [String?] {
            let bench = try Bench(seed: 9, extraObjects: [try Bench.destinationRule(for: "web", "simple: RANDOM")])
            return bench.runClient(.http, "10.96.0.10:80", count: 20).outcomes.map(\.backend)
        }
        #expect(try run() == run())
    }
}

/// Hands every datagram to a closure.
final class EnvelopeCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private let onEnvelope: (AddressedEnvelope<ByteBuffer>) -> Void

    init(_ onEnvelope: @escaping (AddressedEnvelope<ByteBuffer>) -> Void) {
        self.onEnvelope = onEnvelope
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        onEnvelope(unwrapInboundIn(data))
    }
}
