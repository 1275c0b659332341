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
        var ended = false

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = head.status
                headers = head.headers
            case .body(let bytes): body += String(buffer: bytes)
            case .end: ended = true
            }
        }
    }

    /// An h2c connection from pod-4 to the gateway's port 8000.
    static func connect(_ bed: Bed) throws -> NIOHTTP2Handler.StreamMultiplexer {
        let host = try #require(bed.sim.host(named: "pod-4"))
        let box = ProxyTestBox<NIOHTTP2Handler.StreamMultiplexer>()
        host.connectStream(StreamConnectOptions(remote: bed.edge.address.socketAddress(port: 8000))) { channel in
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
    static func get(_ path: String, host: String, on multiplexer: NIOHTTP2Handler.StreamMultiplexer) -> StreamResponse {
        let response = StreamResponse()
        multiplexer.createStreamChannel(promise: nil) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .http))
                try stream.pipeline.syncOperations.addHandler(response)
                let head = HTTPRequestHead(version: .http2, method: .GET, uri: path, headers: HTTPHeaders([("Host", host)]))
                stream.write(HTTPClientRequestPart.head(head), promise: nil)
                stream.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            }
        }
        return response
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
}
