import NIOCore
import NIOHTTP1

/// A copy of one request sent to a gateway route's `mirror` (Istio's shadowing): the same
/// head, its `Host` with `-shadow` appended as Envoy marks shadowed requests, and the same
/// body, on a connection of its own to a backend of the mirror's service. The answer is read
/// and thrown away; the client's exchange never waits for the copy and never hears of it.
///
/// Copies are bounded: a body larger than `maximumBodyBytes` is not copied (the copy is
/// dropped, not cut short), at most `maximumInFlight` copies are out per proxy, each has
/// `timeout` to be answered, and backends that speak HTTP/2 (gRPC) get no copies. What was
/// copied and what was not is counted in the proxy's statistics.
///
/// Confined to the proxy's event loop.
final class HTTPRequestMirror {
    static let maximumBodyBytes = 64 * 1024
    static let maximumInFlight = 64
    static let timeout = TimeAmount.seconds(10)

    private let proxy: ServiceProxy
    private let route: ProxyRoute
    private var head: HTTPRequestHead
    private var body: ByteBuffer
    private var dropped = false

    /// A copy of the request `head` opens, or nil (counted) when the mirror takes no copies now.
    init?(proxy: ServiceProxy, route: ProxyRoute, head: HTTPRequestHead) {
        guard !route.backendsSpeakHTTP2, proxy.mirrorsInFlight < Self.maximumInFlight else {
            proxy.statistics.mirrorsSkipped += 1
            return nil
        }
        self.proxy = proxy
        self.route = route
        self.head = head
        self.body = ByteBufferAllocator().buffer(capacity: 0)
    }

    /// Takes the next part of the client's request; at its end the copy goes out.
    func append(_ part: HTTPServerRequestPart) {
        guard !dropped else { return }
        switch part {
        case .head:
            break
        case .body(var bytes):
            guard body.readableBytes + bytes.readableBytes <= Self.maximumBodyBytes else {
                dropped = true
                body = ByteBufferAllocator().buffer(capacity: 0)
                proxy.statistics.mirrorsSkipped += 1
                return
            }
            body.writeBuffer(&bytes)
        case .end:
            send()
        }
    }

    private func send() {
        var head = self.head
        if let host = head.headers.first(name: "host") {
            head.headers.replaceOrAdd(name: "host", value: Self.shadowHost(host))
        }
        // The copy's body is whole: framed by its length whatever the client sent.
        head.headers.remove(name: "transfer-encoding")
        head.headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
        let body = self.body
        let proxy = self.proxy
        proxy.mirrorsInFlight += 1
        proxy.statistics.requestsMirrored += 1
        let attributes = RequestAttributes(httpRequest: HTTPRequestSummary(head, keeping: route.policy.hashedHeaderName))
        let route = self.route
        proxy.connectStream(for: route, request: attributes, client: nil).whenComplete { result in
            switch result {
            case .failure(let error):
                proxy.mirrorsInFlight -= 1
                proxy.logger.debug("mirror copy to \(route) not sent: \(error)")
            case .success(let connected):
                let channel = connected.channel
                channel.closeFuture.whenComplete { _ in
                    proxy.mirrorsInFlight -= 1
                    connected.selector.connectionClosed(to: connected.choice.backend)
                }
                let deadline = channel.eventLoop.scheduleTask(in: Self.timeout) { channel.close(promise: nil) }
                channel.closeFuture.whenComplete { _ in deadline.cancel() }
                do {
                    var encoding = HTTPRequestEncoder.Configuration()
                    encoding.automaticallySetFramingHeaders = false
                    try channel.pipeline.syncOperations.addHandlers([
                        HTTPRequestEncoder(configuration: encoding),
                        ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)),
                        MirrorAnswerSink(),
                    ])
                    // Dialled with reads off (a splice would own them): the sink reads on its own.
                    if let options = channel.syncOptions {
                        try options.setOption(ChannelOptions.autoRead, value: true)
                    } else {
                        channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in channel.close(promise: nil) }
                    }
                } catch {
                    channel.close(promise: nil)
                    return
                }
                channel.write(HTTPClientRequestPart.head(head), promise: nil)
                if body.readableBytes > 0 { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            }
        }
    }

    /// `host` (a `Host` header, maybe with a port) as Envoy names a shadowed request's host.
    static func shadowHost(_ host: String) -> String {
        let name = HostPattern.requestHost(fromHeader: host)
        let port = host.dropFirst(name.count)
        return name + "-shadow" + port
    }
}

/// Reads a mirrored copy's answer and throws it away; closes the connection once it has ended
/// (or failed), so a copy holds nothing after its answer.
final class MirrorAnswerSink: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPClientResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
