import Mesh
import NIOCore
import NIOHTTP1
import Testing

@testable import NetSim

/// An HTTP/1.1 client holding one connection open across requests, as a browser or a
/// `requests.Session` does: each `get` waits for its response before the next is sent.
final class KeepAliveHTTPClient: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    struct Response {
        var head: HTTPResponseHead
        var body = ""
    }

    private(set) var responses: [Response] = []
    private(set) var closed = false
    private var current: Response?
    private var channel: Channel?
    private let bench: ServiceProxyTestBench

    /// Connects from the bench's edge node to `address`:80.
    init(bench: ServiceProxyTestBench, address: String = "10.96.0.10") throws {
        self.bench = bench
        let connected = ProxyTestBox<Result<Channel, Error>>()
        bench.edge.connectStream(StreamConnectOptions(remote: try SocketAddress(ipAddress: address, port: 80))) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                try channel.pipeline.syncOperations.addHandler(self)
            }
        }.whenComplete { connected.value = $0 }
        bench.sim.run(until: bench.sim.now + 5 * ServiceProxyTestBench.s) { connected.value == nil }
        channel = try #require(connected.value).get()
    }

    /// Sends one request (a GET unless told) with `headers` and runs the simulation until its
    /// response has ended.
    @discardableResult
    func get(
        _ target: String = "/", method: HTTPMethod = .GET, headers: [(String, String)] = [], body: ByteBuffer? = nil
    ) throws -> Response {
        let channel = try #require(channel)
        let expected = responses.count + 1
        let head = HTTPRequestHead(
            version: .http1_1, method: method, uri: target, headers: HTTPHeaders([("Host", "web")] + headers))
        channel.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body { channel.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        channel.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        bench.sim.run(until: bench.sim.now + 10 * ServiceProxyTestBench.s) { self.responses.count < expected && !self.closed }
        guard responses.count == expected else { throw ProxyTestFailure("no response to \(target); closed: \(closed)") }
        return responses[expected - 1]
    }

    func close() {
        channel?.close(promise: nil)
        bench.sim.run(for: ServiceProxyTestBench.s)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): current = Response(head: head)
        case .body(let bytes): current?.body += String(buffer: bytes)
        case .end:
            if let current { responses.append(current) }
            current = nil
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
    }
}

extension KeepAliveHTTPClient.Response {
    /// The pod that answered (the hostname server's body).
    var pod: String? { ServiceProxyTestBench.pods.contains(body) ? body : nil }
}
