import Mesh
import NIOCore
import NIOHTTP1
import NIOSSL

/// One HTTP/1.1 GET over a new connection; succeeds with the response body when the status
/// is 200. With a cookie jar, the request carries its cookies and the response's `Set-Cookie`
/// headers go into it.
public enum HTTPExchange {
    /// TLS for an HTTPS request: the client context and the name the server's certificate must
    /// carry (also sent as SNI); without a name, the server's address must be among the
    /// certificate's IP addresses.
    public struct TLS: Sendable {
        public var context: NIOSSLContext
        public var serverName: String?

        public init(context: NIOSSLContext, serverName: String?) {
            self.context = context
            self.serverName = serverName
        }
    }

    public static func get(
        on host: any Host, address: IPv4Address, port: UInt16, authority: String, path: String = "/", tls: TLS? = nil,
        cookies: CookieJar? = nil, note: RequestSocketNote? = nil
    ) -> EventLoopFuture<String> {
        let loop = host.eventLoop
        let response = loop.makePromise(of: String.self)
        let connected = host.connectStream(StreamConnectOptions(remote: address.socketAddress(port: port))) { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverName))
                }
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                try channel.pipeline.syncOperations.addHandler(HTTPResponseCollector(promise: response) { head in
                    guard let cookies else { return }
                    for value in head.headers["set-cookie"] { cookies.store(setCookie: value, at: host.now) }
                })
            }
        }
        connected.whenFailure { response.fail($0) }
        connected.whenSuccess { channel in
            note?.note(channel)
            var headers = [("Connection", "close")]
            if let cookie = cookies?.header(at: host.now) { headers.append(("Cookie", cookie)) }
            channel.sendGET(authority: authority, path: path, headers: headers)
            response.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        return response.futureResult
    }
}

/// Gathers one response; fails the promise if the connection ends first.
final class HTTPResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<String>
    /// Shown the response head as it arrives.
    private let receivedHead: (HTTPResponseHead) -> Void
    private var status: HTTPResponseStatus?
    private var body = ""

    init(promise: EventLoopPromise<String>, receivedHead: @escaping (HTTPResponseHead) -> Void = { _ in }) {
        self.promise = promise
        self.receivedHead = receivedHead
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
            receivedHead(head)
        case .body(let buffer):
            body += String(buffer: buffer)
        case .end:
            if status == .ok {
                promise.succeed(body)
            } else {
                promise.fail(ExchangeError("HTTP status \(status.map { String($0.code) } ?? "none")"))
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ExchangeError("connection closed before the response"))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        promise.fail(ExchangeError.tls(error) ?? error)
        context.close(promise: nil)
    }
}
