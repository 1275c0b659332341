import Mesh
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NetworkTopology
import Testing

@testable import NetSim
@testable import Scenario

/// HTTP/2 at the gateway: a client speaking h2c with prior knowledge gets each stream of one
/// connection routed by its own head, answered on its own stream, while HTTP/1.1 clients of
/// the same port are served as before.
@Suite struct GatewayHTTP2Tests {
    typealias Bed = ProxyTestBed
    static let s = Nanoseconds.second

    /// Collects one stream's response: status, body, and whether it ended.
    final class StreamResponse: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPClientResponsePart
        var status: HTTPResponseStatus?
        var headers = HTTPHeaders()
        var body = ""
        var trailers: HTTPHeaders?
        var ended = false

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = head.status
                headers = head.headers
            case .body(let bytes): body += String(buffer: bytes)
            case .end(let trailers):
                self.trailers = trailers
                ended = true
            }
        }
    }

    /// An h2c connection from `node` (pod-4) to `address` (the gateway's port 8000).
    static func connect(_ bed: Bed, from node: String = "pod-4", to address: SocketAddress? = nil) throws -> NIOHTTP2Handler.StreamMultiplexer {
        let host = try #require(bed.sim.host(named: node))
        let box = ProxyTestBox<NIOHTTP2Handler.StreamMultiplexer>()
        host.connectStream(StreamConnectOptions(remote: address ?? bed.edge.address.socketAddress(port: 8000))) { channel in
            channel.eventLoop.makeCompletedFuture {
                box.value = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                    mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
                ) { $0.eventLoop.makeSucceededVoidFuture() }
            }
        }.whenFailure { Issue.record($0) }
        bed.sim.run(until: bed.sim.now + Self.s) { box.value == nil }
        return try #require(box.value)
    }

    /// Opens a stream and sends a GET for `path` with `host`; the response arrives in what it returns.
    static func get(
        _ path: String, host: String, method: HTTPMethod = .GET, headers: [(String, String)] = [], body: ByteBuffer? = nil,
        on multiplexer: NIOHTTP2Handler.StreamMultiplexer
    ) -> StreamResponse {
        let response = StreamResponse()
        multiplexer.createStreamChannel(promise: nil) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .http))
                try stream.pipeline.syncOperations.addHandler(response)
                let head = HTTPRequestHead(version: .http2, method: method, uri: path, headers: HTTPHeaders([("Host", host)] + headers))
                stream.write(HTTPClientRequestPart.head(head), promise: nil)
                if let body { stream.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
                stream.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            }
        }
        return response
    }

    /// A gRPC call as grpcio sends one: POST, `application/grpc`, `te: trailers`, one message.
    static func grpcCall(_ path: String, on multiplexer: NIOHTTP2Handler.StreamMultiplexer) -> StreamResponse {
        get(path, host: "grpc.example.com", method: .POST,
            headers: [("content-type", "application/grpc"), ("te", "trailers")], body: GRPCServerWorkload.message("who"), on: multiplexer)
    }

    @Test func eachStreamOfOneConnectionIsRoutedOnItsOwn() throws {
        let bed = try Bed()
        let gateway = try GatewayLimitsTests.gateway(bed, .init(), manifests: GatewayLimitsTests.istioObjects(http: """
            - match: [{uri: {exact: /healthz}}]
              directResponse: {status: 200, body: {string: gateway-ok}}
            - match: [{uri: {prefix: /missing}}]
              route: [{destination: {host: nowhere}}]
            - headers: {response: {set: {x-served-by: edgemesh}}}
              route: [{destination: {host: web, port: {number: 80}}}]
            """))
        let multiplexer = try Self.connect(bed)
        // Sent together: the streams are open at once on the one connection.
        let pods = (0..<6).map { _ in Self.get("/", host: "shop.example.com", on: multiplexer) }
        let health = Self.get("/healthz", host: "shop.example.com", on: multiplexer)
        let missing = Self.get("/missing", host: "shop.example.com", on: multiplexer)
        bed.sim.run(until: bed.sim.now + 5 * Self.s) { !(pods + [health, missing]).allSatisfy(\.ended) }
        #expect(pods.allSatisfy { $0.status == .ok && ProxyTestBed.pods.contains($0.body) }, "\(pods.map(\.body))")
        #expect(Set(pods.map(\.body)).count > 1, "the web pods share the streams, as they share requests")
        #expect(pods.allSatisfy { $0.headers["x-served-by"] == ["edgemesh"] && !$0.headers.contains(name: "connection") },
                "response edits apply, and HTTP/1.1's connection header does not cross into HTTP/2")
        #expect(health.status == .ok && health.body == "gateway-ok")
        #expect(missing.status == .serviceUnavailable, "a route to no service answers 503 on its stream: \(String(describing: missing.status))")
        // The connection lives on after a stream's failure.
        let after = Self.get("/", host: "shop.example.com", on: multiplexer)
        bed.sim.run(until: bed.sim.now + 5 * Self.s) { !after.ended }
        #expect(after.status == .ok)
        #expect(gateway.openConnections == 1, "one connection carried every stream")
    }

    /// Each stream carries one request, but not one backend connection: a stream's HTTP/1.1
    /// backend connection is left to the next stream (and to other clients), so a client
    /// sending request after request on one HTTP/2 connection costs the backends no new
    /// connection each.
    @Test func streamsOneAfterAnotherShareBackendConnections() throws {
        let bed = try Bed()
        let gateway = try GatewayLimitsTests.gateway(bed, .init())
        let multiplexer = try Self.connect(bed)
        var pods: [String] = []
        for _ in 0..<12 {
            let response = Self.get("/", host: "shop.example.com", on: multiplexer)
            bed.sim.run(until: bed.sim.now + 5 * Self.s) { !response.ended }
            #expect(response.status == .ok)
            pods.append(response.body)
        }
        #expect(Set(pods).count == 3, "still balanced over the three replicas: \(pods)")
        #expect(bed.proxy.statistics.backendConnectionsReused == 9, "one dial per replica, then reuse")
        #expect(bed.proxy.idleBackendConnectionCount == 3)
        withExtendedLifetime(gateway) {}
    }

    /// The preface decides the protocol; a client that trickles part of it and stops is closed
    /// as one that sends no request head is (5 s), not held open for ever.
    @Test func aClientStuckInThePrefaceIsClosed() throws {
        let bed = try Bed()
        let gateway = try GatewayLimitsTests.gateway(bed, .init())
        let (channel, recorder) = try GatewayLimitsTests.connect(bed, from: "pod-4", port: 8000)
        channel.writeAndFlush(ByteBuffer(string: "PRI * HTTP/2"), promise: nil)
        bed.sim.run(until: bed.sim.now + 4 * Self.s) { !recorder.closed }
        #expect(!recorder.closed)
        bed.sim.run(until: bed.sim.now + 2 * Self.s) { !recorder.closed }
        #expect(recorder.closed)
        bed.sim.run(for: Self.s)
        #expect(gateway.openConnections == 0)
    }

    /// gRPC through the gateway: each call of one client connection is balanced on its own over
    /// the backends (HTTP/2 to each; once a backend has a connection, every call to it is a
    /// stream of that one), the backends' trailers reach the client, and no backend is
    /// UNAVAILABLE in gRPC's terms.
    @Test func grpcCallsAreBalancedPerCallOverOneConnectionPerBackend() throws {
        let bed = try Bed()
        var addresses: [String] = []
        let accepted = ProxyTestBox<[String: Int]>()
        accepted.value = [:]
        for pod in ["pod-1", "pod-2", "pod-3"] {
            let host = try #require(bed.sim.host(named: pod))
            GRPCServerWorkload.start(on: host, port: 9090, podName: pod) { accepted.value?[pod, default: 0] += 1 }
            addresses.append("{ip: \(try #require(bed.sim.resolve(pod))), nodeName: \(pod)}")
        }
        let gateway = try GatewayLimitsTests.gateway(bed, .init(), manifests: GatewayLimitsTests.istioObjects(http: """
            - match: [{uri: {prefix: /edge.Who/}}]
              route: [{destination: {host: who}}]
            - route: [{destination: {host: nobody}}]
            """) + """
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: who, namespace: default}
            spec: {clusterIP: 10.96.1.20, ports: [{name: grpc, port: 80, targetPort: 9090}]}
            ---
            apiVersion: v1
            kind: Endpoints
            metadata: {name: who, namespace: default}
            subsets: [{addresses: [\(addresses.joined(separator: ", "))], ports: [{name: grpc, port: 9090}]}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: nobody, namespace: default}
            spec: {clusterIP: 10.96.1.21, ports: [{name: grpc, port: 80, targetPort: 9090}]}
            """)
        let multiplexer = try Self.connect(bed)
        // One call at a time until each backend has answered: each has its connection then.
        var warmedUp: Set<String> = []
        for _ in 0..<30 where warmedUp.count < 3 {
            let call = Self.grpcCall("/edge.Who/Name", on: multiplexer)
            bed.sim.run(until: bed.sim.now + 5 * Self.s) { !call.ended }
            warmedUp.insert(String(call.body.dropFirst(5)))
        }
        #expect(warmedUp.count == 3)
        let connectionsAfterWarmUp = accepted.value ?? [:]
        let calls = (0..<30).map { _ in Self.grpcCall("/edge.Who/Name", on: multiplexer) }
        let unavailable = Self.grpcCall("/edge.Nobody/Name", on: multiplexer)
        bed.sim.run(until: bed.sim.now + 5 * Self.s) { !(calls + [unavailable]).allSatisfy(\.ended) }
        #expect(calls.allSatisfy { $0.status == .ok && $0.trailers?["grpc-status"] == ["0"] }, "\(calls.map { $0.trailers ?? [:] })")
        let answeredBy = calls.map { String($0.body.dropFirst(5)) }
        #expect(Set(answeredBy) == ["pod-1", "pod-2", "pod-3"], "per call, not per connection: \(answeredBy)")
        #expect(connectionsAfterWarmUp.values.allSatisfy { $0 == 1 }, "\(connectionsAfterWarmUp)")
        #expect(accepted.value == connectionsAfterWarmUp, "30 concurrent calls over the backends' one connection each: \(accepted.value ?? [:])")
        #expect(unavailable.status == .ok && unavailable.trailers?["grpc-status"] == ["14"], "\(String(describing: unavailable.trailers))")
        #expect(unavailable.trailers?["grpc-message"].first?.contains("no") == true)
        withExtendedLifetime(gateway) {}
    }
}
