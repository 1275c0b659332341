import NIOCore
import NIOHTTP1

/// The agent's local HTTP endpoint: `GET /metrics` (Prometheus text) and `GET /status` (JSON,
/// what `edgemesh status` prints). It listens on loopback by default: it is for the node's
/// operator and its Prometheus, not for the cluster.
///
/// Confined to the host's event loop; the page builders run there, at request time.
public final class AgentHTTPEndpoint: @unchecked Sendable {
    public struct Page: Sendable {
        public var contentType: String
        public var body: @Sendable () -> String

        public init(contentType: String, body: @escaping @Sendable () -> String) {
            self.contentType = contentType
            self.body = body
        }
    }

    public let host: any Host
    public let address: SocketAddress
    private let pages: [String: Page]
    private var listener: Channel?

    /// `pages` maps a path (`/metrics`) to what it serves.
    public init(host: any Host, address: SocketAddress, pages: [String: Page]) {
        self.host = host
        self.address = address
        self.pages = pages
    }

    public func start() -> EventLoopFuture<Void> {
        host.listenStream(StreamListenOptions(address: address)) { [self] channel in
            channel.pipeline.configureHTTPServerPipeline().flatMap {
                channel.pipeline.addHandler(AgentHTTPResponder(endpoint: self))
            }
        }.map { channel in
            self.listener = channel
        }
    }

    /// The bound address (the real port when configured as 0).
    public var localAddress: SocketAddress? { listener?.localAddress }

    public func stop() -> EventLoopFuture<Void> {
        guard let listener else { return host.eventLoop.makeSucceededVoidFuture() }
        self.listener = nil
        return listener.close()
    }

    fileprivate func respond(to request: HTTPRequestHead) -> (HTTPResponseStatus, contentType: String, body: String) {
        let path = String(request.uri.prefix { $0 != "?" })
        guard request.method == .GET || request.method == .HEAD else {
            return (.methodNotAllowed, "text/plain", "only GET is served\n")
        }
        guard let page = pages[path] else {
            return (.notFound, "text/plain", "no page at \(path); try \(pages.keys.sorted().joined(separator: ", "))\n")
        }
        return (.ok, page.contentType, page.body())
    }
}

/// One request at a time per connection, kept alive when the client asks.
private final class AgentHTTPResponder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoint: AgentHTTPEndpoint
    private var request: HTTPRequestHead?

    init(endpoint: AgentHTTPEndpoint) {
        self.endpoint = endpoint
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let request else { return }
            self.request = nil
            let (status, contentType, text) = endpoint.respond(to: request)
            var body = context.channel.allocator.buffer(capacity: text.utf8.count)
            body.writeString(text)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: String(body.readableBytes))
            if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            if request.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !request.isKeepAlive {
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}
