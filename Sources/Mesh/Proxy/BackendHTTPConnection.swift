import NIOCore
import NIOHTTP1
import NIOHTTP2

/// One backend connection of a request-balanced client connection: sits at the end of the
/// backend channel's HTTP client pipeline, sends request parts and hands every response part,
/// read completion, writability change and close to its `HTTPRequestBalancer`.
///
/// Framing headers go out as the client sent them (no NIO sanitising), so a request reaches the
/// backend as it was written. Reads are asked for by the balancer: `autoRead` stays off.
final class BackendHTTPConnection: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let backend: ServiceBackend
    /// The connection to the backend, or one HTTP/2 stream of it (`isStream`).
    let channel: Channel
    /// An HTTP/2 stream: it carries one request, then closes.
    let isStream: Bool
    /// Cleared when the balancer lets go of this connection, so late events go nowhere.
    weak var balancer: HTTPRequestBalancer?
    /// Set while the connection idles in the proxy's pool, which hears of its close.
    weak var pool: BackendConnectionPool?
    private var context: ChannelHandlerContext?

    private init(backend: ServiceBackend, channel: Channel, balancer: HTTPRequestBalancer, isStream: Bool = false) {
        self.backend = backend
        self.channel = channel
        self.balancer = balancer
        self.isStream = isStream
    }

    /// Puts NIO's HTTP/2-to-HTTP/1 client codec and a connection handler on a new stream of a
    /// backend's HTTP/2 connection (`BackendHTTP2Session`).
    static func install(onStream stream: Channel, backend: ServiceBackend, balancer: HTTPRequestBalancer) throws -> BackendHTTPConnection {
        let connection = BackendHTTPConnection(backend: backend, channel: stream, balancer: balancer, isStream: true)
        try stream.pipeline.syncOperations.addHandlers([HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .http), connection])
        return connection
    }

    /// Puts an HTTP client pipeline and a connection handler on a freshly dialled `channel`.
    static func install(
        on channel: Channel, backend: ServiceBackend, balancer: HTTPRequestBalancer
    ) throws -> BackendHTTPConnection {
        var encoding = HTTPRequestEncoder.Configuration()
        encoding.automaticallySetFramingHeaders = false
        let connection = BackendHTTPConnection(backend: backend, channel: channel, balancer: balancer)
        // The decoder must come after the encoder: it watches outgoing request heads to know
        // which responses (to HEAD) have no body. 1xx answers (100 Continue) are relayed.
        try channel.pipeline.syncOperations.addHandlers([
            HTTPRequestEncoder(configuration: encoding),
            ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes, informationalResponseStrategy: .forward)),
            connection,
        ])
        return connection
    }

    /// Takes the HTTP handlers (and this one) off the channel, for a switch to a byte splice;
    /// bytes the decoder holds past the 101/2xx head go on to whatever follows in the pipeline.
    func removeHTTPHandlers() {
        let pipeline = channel.pipeline.syncOperations
        pipeline.removeHandler(self, promise: nil)
        if let encoder = try? pipeline.handler(type: HTTPRequestEncoder.self) {
            pipeline.removeHandler(encoder, promise: nil)
        }
        if let decoder = try? pipeline.handler(type: ByteToMessageHandler<HTTPResponseDecoder>.self) {
            pipeline.removeHandler(decoder, promise: nil)
        }
    }

    var isWritable: Bool { channel.isWritable }

    func write(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head): context?.write(wrapOutboundOut(.head(head)), promise: nil)
        case .body(let bytes): context?.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
        case .end(let trailers): context?.write(wrapOutboundOut(.end(trailers)), promise: nil)
        }
    }

    func flush() {
        context?.flush()
    }

    func read() {
        context?.read()
    }

    func close() {
        balancer = nil
        channel.close(promise: nil)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let balancer else {
            // Nothing was asked of an idle connection: it is out of step.
            pool?.discard(self)
            return
        }
        balancer.backendSent(unwrapInboundIn(data), on: self)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        balancer?.backendReadComplete(self)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        balancer?.backendWritabilityChanged(self)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The decoder has already ended a close-delimited response; nothing more can come.
        if case ChannelEvent.inputClosed = event {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        balancer?.backendClosed(self, error: nil)
        balancer = nil
        pool?.discard(self)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        balancer?.backendClosed(self, error: error)
        balancer = nil
        pool?.discard(self)
        context.close(promise: nil)
    }
}
