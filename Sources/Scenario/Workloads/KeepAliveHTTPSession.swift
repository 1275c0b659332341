import Mesh
import NIOCore
import NIOHTTP1
import NIOSSL

/// An HTTP/1.1 client that keeps one connection open across requests, as browsers and
/// `requests.Session` do: each request goes on the open connection (opened on first use, and
/// again after the server closes it), and responses are matched to requests in order.
///
/// The scenario's keep-alive clients send numbered GETs (`get(_:address:port:authority:path:)`);
/// tests send any request and read the whole response (`send`). Confined to the host's loop.
public final class KeepAliveHTTPSession: @unchecked Sendable {
    /// One response as it arrived: its head and its body as text.
    public struct Response: Sendable {
        public var head: HTTPResponseHead
        public var body: String
    }

    /// The header a scenario's DestinationRule hashes on to balance a keep-alive client's requests.
    static let keyHeader = "X-Client-Key"
    static let keyCount = 8

    private let host: any Host
    private let tls: HTTPExchange.TLS?
    private var connection: EventLoopFuture<Channel>?

    /// With `tls`, the connection is TLS, its certificate checked against `tls`'s authorities.
    public init(host: any Host, tls: HTTPExchange.TLS? = nil) {
        self.host = host
        self.tls = tls
    }

    /// Whether a connection is open (or opening) now; false before the first request and after
    /// the server closed the connection.
    public var isConnected: Bool { connection != nil }

    /// Sends `head` (and `body`, when given) on the open connection, opening one to
    /// `address:port` when none is; succeeds with the response whatever its status, fails when
    /// the connection ends first.
    public func send(
        _ head: HTTPRequestHead, body: ByteBuffer? = nil, address: IPv4Address, port: UInt16, note: RequestSocketNote? = nil
    ) -> EventLoopFuture<Response> {
        let response = host.eventLoop.makePromise(of: Response.self)
        connect(to: address, port: port).whenComplete { result in
            switch result {
            case .failure(let error): response.fail(error)
            case .success(let channel):
                note?.note(channel)
                let queue = try? channel.pipeline.syncOperations.handler(type: HTTPResponseQueue.self)
                queue?.expect(response)
                channel.write(HTTPClientRequestPart.head(head), promise: nil)
                if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            }
        }
        return response.futureResult
    }

    /// Sends GET number `index` with `X-Client-Key: key-<index mod 8>`, so a proxy balancing on
    /// that header per request spreads one connection's requests over the backends; succeeds
    /// with the body of a 200 response.
    func get(
        _ index: Int, address: IPv4Address, port: UInt16, authority: String, path: String = "/", note: RequestSocketNote? = nil
    ) -> EventLoopFuture<String> {
        let headers = HTTPHeaders([("Host", authority), (Self.keyHeader, "key-\(index % Self.keyCount)")])
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        return send(head, address: address, port: port, note: note).flatMapThrowing { response in
            guard response.head.status == .ok else { throw ExchangeError("HTTP status \(response.head.status.code)") }
            return response.body
        }
    }

    /// Opens the connection now rather than with the first request (a no-op when one is open).
    public func open(to address: IPv4Address, port: UInt16) -> EventLoopFuture<Void> {
        connect(to: address, port: port).map { _ in }
    }

    /// Closes the open connection, if any.
    public func close() {
        connection?.whenSuccess { $0.close(promise: nil) }
    }

    private func connect(to address: IPv4Address, port: UInt16) -> EventLoopFuture<Channel> {
        if let connection { return connection }
        let tls = tls
        let opened = host.connectStream(StreamConnectOptions(remote: address.socketAddress(port: port))) { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverName))
                }
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                try channel.pipeline.syncOperations.addHandler(HTTPResponseQueue())
            }
        }
        connection = opened
        opened.whenComplete { result in
            switch result {
            case .failure: self.connection = nil
            case .success(let channel): channel.closeFuture.whenComplete { _ in self.connection = nil }
            }
        }
        return opened
    }
}

/// Hands each response on a keep-alive connection to the request it answers, in order; the
/// ones still waiting fail when the connection ends.
final class HTTPResponseQueue: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    private var waiting: [EventLoopPromise<KeepAliveHTTPSession.Response>] = []
    private var current: KeepAliveHTTPSession.Response?

    func expect(_ response: EventLoopPromise<KeepAliveHTTPSession.Response>) {
        waiting.append(response)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            current = KeepAliveHTTPSession.Response(head: head, body: "")
        case .body(let buffer):
            current?.body += String(buffer: buffer)
        case .end:
            guard !waiting.isEmpty, let response = current else { return }
            current = nil
            waiting.removeFirst().succeed(response)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let failed = waiting
        waiting = []
        for response in failed { response.fail(ExchangeError("connection closed before the response")) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
