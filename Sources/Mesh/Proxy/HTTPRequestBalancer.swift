import NIOCore
import NIOHTTP1
import NIOHTTP2

/// Serves one client connection request by request: an intercepted one, for a policy that
/// hashes on a header, cookie or query parameter, or one of the gateway's, whose requests each
/// go where their host and path say (`HTTPRequestRouting`). Each request head is parsed, its
/// backend chosen by its route's selector, and the request forwarded on a connection to that
/// backend, so every request of a keep-alive connection lands where its own key says (as Envoy
/// balances), not where the first request's did.
///
/// - One connection per backend per client connection, opened on demand and reused; all close
///   with the client connection.
/// - Requests are served one at a time, in order: NIO's pipelining handler holds pipelined
///   requests back until the response before them has ended.
/// - Bodies stream both ways with back-pressure: the client is read only while the backend can
///   take more, the backend only while the client can. Framing headers pass as the peer wrote
///   them (content-length, chunked, or a close-delimited response, after which the client
///   connection closes); responses to HEAD and 1xx/204/304 carry no body.
/// - A cookie policy's generated cookie goes on each response whose request had none.
/// - `Upgrade` (WebSocket) and `CONNECT`: after the backend's 101/2xx the two connections are
///   spliced as bytes, like any other TCP connection.
/// - A request NIO cannot parse gets a 400 and the connection closes (NIO's protocol error
///   handler); a backend that cannot be found or reached gets a 503 or 502
///   (`LocalReply`).
final class HTTPRequestBalancer: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// The request being served.
    private struct Exchange {
        var request: HTTPRequestHead
        var route: ProxyRoute
        var policy: HTTPExchangePolicy
        /// Tries made after the first.
        var retries = 0
        /// Whether the current try went out on a connection an earlier request used (this
        /// client's or the pool's), which the backend may have closed unseen.
        var onReusedConnection = false
        /// Whether the request was sent again because a reused connection turned out closed
        /// (`resendAfterStaleConnection`): it then goes out on a new connection, and only once.
        var resentOnNewConnection = false
        var sawBody = false
        /// The backends tried, which a retry avoids.
        var tried: [ServiceBackend] = []
        /// The request's body and end as read so far, kept to be sent again on a retry while
        /// the policy retries and the body stays under `HTTPRetryPolicy.maximumReplayBytes`.
        var replay: [HTTPServerRequestPart]?
        var replayBytes = 0
        /// The route's timeout, running from the request's end.
        var timeout: Scheduled<Void>?
        /// The current try's `perTryTimeout`, running from when it was sent.
        var tryTimeout: Scheduled<Void>?
        /// Parts read while the backend was being chosen, sent once it is.
        var waiting: [HTTPServerRequestPart] = []
        var backend: BackendHTTPConnection?
        /// The copy going to the route's mirror, while the request is read.
        var mirror: HTTPRequestMirror?
        /// Counts this request as load on `backend` until the exchange ends.
        var selector: BackendSelector?
        var setCookie: String?
        var requestEnded = false
        var responseStarted = false
        /// Whether the response (and the backend) allows another request on the connection.
        var responseKeepsAlive = true

        /// Leaves the current try, whose response has not reached the client, so that `parts`
        /// are sent on the next; returns its connection, which cannot carry another request
        /// (its response may still be arriving).
        mutating func abandonTry(replaying parts: [HTTPServerRequestPart]) -> BackendHTTPConnection? {
            tryTimeout?.cancel()
            tryTimeout = nil
            let abandoned = backend
            if let abandoned { selector?.connectionClosed(to: abandoned.backend) }
            backend = nil
            selector = nil
            setCookie = nil
            waiting = parts
            return abandoned
        }
    }

    private let proxy: ServiceProxy
    private let routing: HTTPRequestRouting
    /// An HTTP/2 stream: one request, after which the stream ends.
    private let carriesOneRequest: Bool
    private var context: ChannelHandlerContext?
    private var exchange: Exchange?
    private var connections: [ServiceBackend: BackendHTTPConnection] = [:]
    /// HTTP/2 connections to backends of services that speak it, one per backend: this client
    /// connection's own, or shared by the streams of an HTTP/2 client connection, which closes them.
    private let sessions: BackendHTTP2Sessions
    private let ownsSessions: Bool
    private var sawRequest = false
    /// Whether the last request was gRPC's: the proxy's own failures then answer in gRPC's terms.
    private var lastRequestIsGRPC = false
    private var switchingProtocols = false
    private var closing = false
    private var clientInputEnded = false
    /// Set while a client read is delivered: a read asked for then would let the end of input
    /// overtake requests still in the decoder, so reads wait for `channelReadComplete`.
    private var deliveringClientRead = false
    /// Closes the connection when the awaited request head is late: the first within
    /// `requestHeadTimeout`, each next one on a kept-alive connection within `keepAliveTimeout`.
    private var headTimeout: Scheduled<Void>?

    private init(proxy: ServiceProxy, routing: HTTPRequestRouting, streamOf sharedSessions: BackendHTTP2Sessions? = nil) {
        self.proxy = proxy
        self.routing = routing
        self.carriesOneRequest = sharedSessions != nil
        self.sessions = sharedSessions ?? BackendHTTP2Sessions()
        self.ownsSessions = sharedSessions == nil
    }

    /// Puts NIO's HTTP server handlers and a balancer at the end of a client connection's
    /// pipeline. Responses are encoded with the framing headers the backend chose; request heads
    /// longer than `maximumRequestHeadLength` are refused.
    static func install(on pipeline: ChannelPipeline.SynchronousOperations, proxy: ServiceProxy, route: ProxyRoute) throws {
        try install(on: pipeline, proxy: proxy, routing: .service(route))
    }

    static func install(
        on pipeline: ChannelPipeline.SynchronousOperations, proxy: ServiceProxy, routing: HTTPRequestRouting
    ) throws {
        var encoding = HTTPResponseEncoder.Configuration()
        encoding.automaticallySetFramingHeaders = false
        // A longer head is refused with a 400, like any other request NIO cannot take.
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = proxy.configuration.maximumRequestHeadLength
        try pipeline.configureHTTPServerPipeline(
            withPipeliningAssistance: true, withErrorHandling: true, withOutboundHeaderValidation: false,
            withEncoderConfiguration: encoding, withDecoderLimitConfiguration: limits)
        try pipeline.addHandler(HTTPRequestBalancer(proxy: proxy, routing: routing))
    }

    /// Puts NIO's HTTP/2 server handler on a client connection whose client speaks HTTP/2, and a
    /// balancer on each stream it opens (through NIO's HTTP/2-to-HTTP/1 codec): every stream's
    /// request goes where its own head says, to HTTP/1.1 backends, while the connection carries
    /// up to 100 streams at once (NIO's default `SETTINGS_MAX_CONCURRENT_STREAMS`, each held to
    /// its flow-control window). The connection reads on its own; each stream reads when its
    /// balancer wants more, as on HTTP/1.1.
    static func installHTTP2(on channel: Channel, proxy: ServiceProxy, routing: HTTPRequestRouting) throws {
        let pipeline = channel.pipeline.syncOperations
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        // NIO's defaults (100 concurrent streams), with the request-head limit HTTP/1.1 clients get.
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 100),
            HTTP2Setting(parameter: .maxHeaderListSize, value: proxy.configuration.maximumRequestHeadLength),
        ]
        let sessions = BackendHTTP2Sessions()
        channel.closeFuture.whenComplete { _ in sessions.closeAll() }
        _ = try pipeline.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: .init()
        ) { stream in
            stream.setOption(ChannelOptions.autoRead, value: false).flatMapThrowing {
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try stream.pipeline.syncOperations.addHandler(HTTPRequestBalancer(proxy: proxy, routing: routing, streamOf: sessions))
            }
        }
        // Frames for every stream, SETTINGS and PINGs arrive on the connection: it is read
        // continuously, and streams are held back by HTTP/2 flow control instead.
        try channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        awaitHead(within: proxy.configuration.requestHeadTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Client side

    /// A connection the balancer was put on before it opened (the gateway's) reads its first
    /// request once it does; reads are asked for, never automatic.
    func channelActive(context: ChannelHandlerContext) {
        readClientIfWanted()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, !switchingProtocols else { return }
        deliveringClientRead = true
        defer { deliveringClientRead = false }
        let part = unwrapInboundIn(data)
        switch part {
        case .head(var request):
            sawRequest = true
            lastRequestIsGRPC = request.headers.first(name: "content-type")?.lowercased().hasPrefix("application/grpc") ?? false
            headTimeout?.cancel()
            switch routing.target(for: &request, client: context.channel.remoteAddress) {
            case .route(let route, let policy):
                exchange = Exchange(request: request, route: route, policy: policy, replay: policy.retry.attempts > 0 ? [] : nil)
                exchange?.mirror = policy.mirror.flatMap { HTTPRequestMirror(proxy: proxy, route: $0, head: request) }
                chooseBackend(for: request, route: route, client: context.channel.remoteAddress)
            case .answer(let response):
                proxy.logger.debug("\(routing): \(request.method) \(request.uri) answered \(response.status.code): \(response.reason)")
                closeClient(after: response)
            }
        case .body, .end:
            guard exchange != nil else { return }
            if case .body = part { exchange?.sawBody = true }
            keepForReplay(part)
            exchange?.mirror?.append(part)
            if case .end = part {
                exchange?.requestEnded = true
                startTimeout()
            }
            if let backend = exchange?.backend {
                backend.write(part)
            } else {
                exchange?.waiting.append(part)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.backend?.flush()
        readClientIfWanted()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.backend?.read() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Delivered after every request the client sent before it: the current one is answered,
        // then the connection closes.
        if case ChannelEvent.inputClosed = event {
            clientInputEnded = true
            if exchange == nil && !switchingProtocols { closeClient() }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closing = true
        headTimeout?.cancel()
        // The connection of a request cut short cannot carry another; the idle ones can.
        let current = endExchange()?.backend
        current?.close()
        for backend in connections.keys.sorted() {
            if let idle = connections[backend], idle !== current { proxy.idleBackendConnections.release(idle) }
        }
        connections = [:]
        if ownsSessions { sessions.closeAll() }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A parse error has just been answered with a 400 by NIO's handler.
        proxy.logger.debug("HTTP client connection of \(routing) failed: \(error)")
        closing = true
        context.close(promise: nil)
    }

    /// Reads the client when a request head is awaited, or while a request body streams to a
    /// backend that keeps up.
    private func readClientIfWanted() {
        guard let context, !closing, !switchingProtocols, !clientInputEnded, !deliveringClientRead else { return }
        if let exchange {
            guard !exchange.requestEnded, let backend = exchange.backend, backend.isWritable else { return }
        }
        context.read()
    }

    private func awaitHead(within limit: TimeAmount) {
        guard let context else { return }
        headTimeout?.cancel()
        headTimeout = context.eventLoop.scheduleTask(in: limit) { [weak self] in self?.headTimedOut(limit) }
    }

    /// Closes a connection whose awaited request head did not arrive in time (as nginx does: no
    /// request, so no response to frame), so an idle or trickling client holds no memory.
    private func headTimedOut(_ limit: TimeAmount) {
        guard exchange == nil, !closing, !switchingProtocols else { return }
        proxy.statistics.requestHeadTimeouts += 1
        proxy.logger.debug("no\(sawRequest ? " further" : "") request head on a connection to \(routing) within \(limit)")
        closeClient()
    }

    // MARK: Choosing and forwarding

    private func chooseBackend(
        for request: HTTPRequestHead, route: ProxyRoute, client: SocketAddress?, avoiding tried: [ServiceBackend] = []
    ) {
        let attributes = RequestAttributes(
            clientAddress: client?.ipv4Address, httpRequest: HTTPRequestSummary(request, keeping: route.policy.hashedHeaderName))
        let sessions = self.sessions
        proxy.connectStream(for: route, request: attributes, client: client, avoiding: tried, reusing: { [self] backend in
            if route.backendsSpeakHTTP2 {
                if let session = sessions[backend], session.channel.isActive { return .open(session.channel) }
                // Another stream's dial to this backend: its connection will carry this stream too.
                return sessions.dial(to: backend).map { .dialling($0) }
            }
            guard exchange?.resentOnNewConnection != true else { return nil }
            guard let open = connections[backend], open.channel.isActive else {
                return adoptIdleConnection(to: backend).map { .open($0.channel) }
            }
            return .open(open.channel)
        }, dialStarted: { backend, dial in
            if route.backendsSpeakHTTP2 { sessions.noteDial(dial, to: backend) }
        }).whenComplete { result in
            switch result {
            case .success(let connected): self.forward(to: connected)
            case .failure(let error):
                self.proxy.logger.debug("request to \(route) not forwarded: \(error)")
                self.closeClient(after: LocalReply(for: error))
            }
        }
    }

    private func forward(to connected: ConnectedBackend) {
        guard let exchange, exchange.route.backendsSpeakHTTP2 else { return forward(to: connected, over: nil) }
        // A backend speaking HTTP/2: the request goes out as a new stream of its connection.
        let session: BackendHTTP2Session
        if let known = sessions[connected.choice.backend], known.channel.isActive {
            // Another stream of the client may have opened it while this one dialled.
            if known.channel !== connected.channel { connected.channel.close(promise: nil) }
            session = known
        } else {
            do {
                session = try BackendHTTP2Session.start(on: connected.channel, backend: connected.choice.backend)
            } catch {
                connected.selector.connectionClosed(to: connected.choice.backend)
                connected.channel.close(promise: nil)
                closeClient(after: LocalReply(for: error))
                return
            }
            sessions[connected.choice.backend] = session
        }
        session.openStream(for: self).whenComplete { result in
            switch result {
            case .success(let stream): self.forward(to: connected, over: stream)
            case .failure(let error):
                connected.selector.connectionClosed(to: connected.choice.backend)
                self.closeClient(after: LocalReply(for: error))
            }
        }
    }

    /// Sends the exchange's request to `connected`, on `stream` when the backend speaks HTTP/2.
    private func forward(to connected: ConnectedBackend, over stream: BackendHTTPConnection?) {
        let known = connections[connected.choice.backend]
        guard var exchange, !closing else {
            connected.selector.connectionClosed(to: connected.choice.backend)
            if let stream {
                stream.close()
            } else if known?.channel !== connected.channel {
                connected.channel.close(promise: nil)
            }
            return
        }
        let backend: BackendHTTPConnection
        exchange.onReusedConnection = false
        if let stream {
            backend = stream
        } else if let known, known.channel === connected.channel {
            backend = known
            exchange.onReusedConnection = true
        } else {
            do {
                backend = try BackendHTTPConnection.install(
                    on: connected.channel, backend: connected.choice.backend, balancer: self)
            } catch {
                connected.selector.connectionClosed(to: connected.choice.backend)
                connected.channel.close(promise: nil)
                closeClient(after: LocalReply(for: error))
                return
            }
            known?.close()
            connections[backend.backend] = backend
        }
        backend.write(.head(backend.isStream ? exchange.request : exchange.request.forHTTP11Backend.withoutHopByHopHeaders))
        for part in exchange.waiting { backend.write(part) }
        // Chosen during a client read (a reused connection): the rest of the read's parts
        // follow, and `channelReadComplete` flushes them all at once.
        if !deliveringClientRead { backend.flush() }
        exchange.waiting = []
        exchange.backend = backend
        exchange.tried.append(backend.backend)
        exchange.selector = connected.selector
        exchange.setCookie = connected.choice.setCookie
        if let perTry = exchange.policy.retry.perTryTimeout, let context {
            exchange.tryTimeout = context.eventLoop.scheduleTask(in: perTry) { [weak self, weak backend] in
                guard let self, let backend else { return }
                self.tryTimedOut(on: backend, after: perTry)
            }
        }
        self.exchange = exchange
        backend.read()
        readClientIfWanted()
    }

    // MARK: Timeouts and retries

    /// Keeps a copy of a request part while the request may still be tried again.
    private func keepForReplay(_ part: HTTPServerRequestPart) {
        guard exchange?.replay != nil else { return }
        if case .body(let bytes) = part {
            exchange?.replayBytes += bytes.readableBytes
            if exchange!.replayBytes > HTTPRetryPolicy.maximumReplayBytes {
                // Too long to hold for a retry: this request is tried once.
                exchange?.replay = nil
                return
            }
        }
        exchange?.replay?.append(part)
    }

    private func startTimeout() {
        guard let context, let limit = exchange?.policy.timeout, exchange?.timeout == nil else { return }
        exchange?.timeout = context.eventLoop.scheduleTask(in: limit) { [weak self] in self?.timedOut(after: limit) }
    }

    /// The route's timeout passed: a 504 if the response has not begun, else the client's
    /// connection closes (its response cut short, as Envoy resets the stream).
    private func timedOut(after limit: TimeAmount) {
        guard let exchange, !closing else { return }
        proxy.statistics.requestTimeouts += 1
        proxy.logger.debug("request to \(exchange.route) timed out after \(limit)")
        closeClient(after: LocalReply(status: .gatewayTimeout, reason: "\(exchange.route): upstream request timeout (\(limit))"))
    }

    /// A try's `perTryTimeout` passed before its response began: tried again, or a 504.
    private func tryTimedOut(on backend: BackendHTTPConnection, after limit: TimeAmount) {
        guard let exchange, exchange.backend === backend, !exchange.responseStarted, !closing else { return }
        if exchange.policy.retry.retriesTimeout, retry(because: "no response within the per-try timeout \(limit)") { return }
        proxy.statistics.requestTimeouts += 1
        closeClient(after: LocalReply(status: .gatewayTimeout, reason: "\(exchange.route): upstream request timeout (per try, \(limit))"))
    }

    /// Abandons the current try, whose response has not reached the client, and sends the
    /// request to another backend; false when no retry is left or the request was not kept.
    private func retry(because reason: String) -> Bool {
        guard var exchange, !closing, let replay = exchange.replay, exchange.retries < exchange.policy.retry.attempts,
            let context
        else { return false }
        exchange.retries += 1
        let abandoned = exchange.abandonTry(replaying: replay)
        self.exchange = exchange
        if let abandoned { drop(abandoned) }
        proxy.statistics.requestRetries += 1
        proxy.logger.debug("request to \(exchange.route) tried again (\(exchange.retries) of \(exchange.policy.retry.attempts)): \(reason)")
        let client = context.channel.remoteAddress
        let wait = proxy.configuration.redialBackoff.delay(attempt: exchange.retries - 1, on: proxy.host)
        context.eventLoop.scheduleTask(in: wait) { [weak self] in
            guard let self, !self.closing, let current = self.exchange, current.backend == nil else { return }
            self.chooseBackend(for: current.request, route: current.route, client: client, avoiding: current.tried)
        }
        return true
    }

    /// A kept-alive connection the backend closed while it idled (a restart, its own idle
    /// timeout) fails the request sent on it before any answer: the request goes out again on
    /// another connection, as a browser or Go's HTTP client does, without counting as one of the
    /// route's retries. Once, on a new connection to the same backend (a hash policy keeps its
    /// replica), and only a request the proxy can send again whole: one whose copy it kept for
    /// its retries, or one without a body that has ended.
    private func resendAfterStaleConnection() -> Bool {
        guard var exchange, !closing, !exchange.resentOnNewConnection, let context else { return false }
        let replay: [HTTPServerRequestPart]
        if let kept = exchange.replay {
            replay = kept
        } else if exchange.requestEnded && !exchange.sawBody {
            replay = [.end(nil)]
        } else {
            return false
        }
        exchange.resentOnNewConnection = true
        let stale = exchange.abandonTry(replaying: replay)
        self.exchange = exchange
        if let stale { drop(stale) }
        proxy.logger.debug("request to \(exchange.route) sent again: a reused backend connection was closed")
        chooseBackend(for: exchange.request, route: exchange.route, client: context.channel.remoteAddress)
        return true
    }

    // MARK: Backend side

    func backendSent(_ part: HTTPClientResponsePart, on backend: BackendHTTPConnection) {
        guard !switchingProtocols else { return }
        guard let exchange, exchange.backend === backend, let context else {
            // A response nobody asked for: the connection is out of step; drop it.
            drop(backend)
            return
        }
        switch part {
        case .head(var response):
            if Self.switchesProtocols(response, answering: exchange.request) {
                switchProtocols(with: backend, response: response)
                return
            }
            if (100..<200).contains(response.status.code) {
                context.write(wrapOutboundOut(.head(response)), promise: nil)
                return
            }
            if exchange.policy.retry.retries(status: Int(response.status.code)),
                retry(because: "backend \(backend.backend) answered \(response.status.code)")
            {
                return
            }
            exchange.tryTimeout?.cancel()
            if backend.isStream { Self.adapt(&response, fromHTTP2For: exchange.request) }
            HTTPHeaderEdit.apply(exchange.policy.responseEdits, to: &response.headers)
            if let cookie = exchange.setCookie {
                response.headers = HTTPHeaders([("Set-Cookie", cookie)] + response.headers.map { ($0.name, $0.value) })
            }
            self.exchange?.responseStarted = true
            // An HTTP/2 stream's response ends with the stream, never with the connection.
            self.exchange?.responseKeepsAlive = backend.isStream
                || response.isKeepAlive && !Self.isCloseDelimited(response, answering: exchange.request)
            if exchange.request.version.major == 1, !exchange.request.isKeepAlive {
                // The backend never saw the client's `Connection: close` (`withoutHopByHopHeaders`);
                // the client must still read that this connection closes after the response.
                response.headers.replaceOrAdd(name: "Connection", value: "close")
            }
            context.write(wrapOutboundOut(.head(response)), promise: nil)
        case .body(let bytes):
            context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
        case .end(let trailers):
            finishExchange(on: backend, trailers: trailers)
        }
    }

    func backendReadComplete(_ backend: BackendHTTPConnection) {
        guard let context, exchange?.backend === backend, !switchingProtocols else { return }
        context.flush()
        if context.channel.isWritable { backend.read() }
    }

    func backendWritabilityChanged(_ backend: BackendHTTPConnection) {
        if exchange?.backend === backend, backend.isWritable { readClientIfWanted() }
    }

    func backendClosed(_ backend: BackendHTTPConnection, error: Error?) {
        if connections[backend.backend] === backend { connections[backend.backend] = nil }
        guard let exchange, exchange.backend === backend, !switchingProtocols else { return }
        proxy.logger.debug("backend \(backend.backend) of \(exchange.route) broke off: \(error.map { "\($0)" } ?? "closed")")
        if !exchange.responseStarted, exchange.onReusedConnection, resendAfterStaleConnection() { return }
        if exchange.responseStarted {
            // The client must see the response end early, not wait for the rest.
            closeClient()
        } else if exchange.policy.retry.retriesReset,
            retry(because: "backend \(backend.backend) closed the connection before it answered")
        {
            return
        } else {
            closeClient(after: LocalReply(
                status: .badGateway,
                reason: "\(exchange.route): backend \(backend.backend) closed the connection before it answered"))
        }
    }

    private func finishExchange(on backend: BackendHTTPConnection, trailers: HTTPHeaders?) {
        guard let context, let exchange = endExchange() else { return }
        // After an Upgrade or CONNECT the backend refused, NIO's decoder reads no further
        // requests on this connection: close it rather than leave the client waiting.
        let asksToSwitch = exchange.request.method == .CONNECT || exchange.request.headers.contains(name: "upgrade")
        // The backend never saw an HTTP/1.1 client's `Connection` header (`withoutHopByHopHeaders`);
        // an HTTP/1.0 request's went through, and without keep-alive the backend closes.
        let backendReusable = exchange.requestEnded && exchange.responseKeepsAlive && !asksToSwitch
            && (exchange.request.version != .http1_0 || exchange.request.isKeepAlive)
        let clientContinues = backendReusable && exchange.request.isKeepAlive && !clientInputEnded && !carriesOneRequest
        if backendReusable && !backend.isStream {
            // An idle connection keeps a read pending, to notice when the backend closes it.
            backend.read()
            if !clientContinues { release(backend) }
        } else {
            drop(backend)
        }
        guard clientContinues else {
            closeClient(after: [.end(trailers)])
            return
        }
        // Writing the end lets NIO's pipelining handler hand over the next queued request.
        awaitHead(within: proxy.configuration.keepAliveTimeout)
        context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
        readClientIfWanted()
    }

    /// Ends the current exchange, if any: its request no longer loads its backend.
    @discardableResult
    private func endExchange() -> Exchange? {
        guard let ended = exchange else { return nil }
        exchange = nil
        ended.timeout?.cancel()
        ended.tryTimeout?.cancel()
        if let backend = ended.backend { ended.selector?.connectionClosed(to: backend.backend) }
        return ended
    }

    /// Makes an idle connection of the proxy's pool this client connection's own.
    private func adoptIdleConnection(to backend: ServiceBackend) -> BackendHTTPConnection? {
        guard !closing, let pooled = proxy.idleBackendConnections.take(backend) else { return nil }
        pooled.balancer = self
        proxy.statistics.backendConnectionsReused += 1
        connections[backend]?.close()
        connections[backend] = pooled
        return pooled
    }

    /// Hands a connection that carried a whole exchange to the proxy's pool, for whichever client
    /// connection next needs its backend.
    private func release(_ backend: BackendHTTPConnection) {
        if connections[backend.backend] === backend { connections[backend.backend] = nil }
        proxy.idleBackendConnections.release(backend)
    }

    private func drop(_ backend: BackendHTTPConnection) {
        if connections[backend.backend] === backend { connections[backend.backend] = nil }
        backend.close()
    }

    // MARK: Closing

    private func closeClient(after response: LocalReply) {
        guard let context, !(exchange?.responseStarted ?? false) else {
            closeClient()
            return
        }
        closeClient(after: lastRequestIsGRPC ? response.grpcParts() : response.parts(allocator: context.channel.allocator))
    }

    /// Writes `parts`, then closes the client connection (and with it every backend connection).
    private func closeClient(after parts: [HTTPServerResponsePart] = []) {
        guard let context, !closing else { return }
        closing = true
        endExchange()
        let channel = context.channel
        guard let last = parts.last else {
            context.flush()
            channel.close(promise: nil)
            return
        }
        for part in parts.dropLast() { context.write(wrapOutboundOut(part), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(last)).whenComplete { _ in channel.close(promise: nil) }
    }

    // MARK: Switching to a byte splice

    private static func switchesProtocols(_ response: HTTPResponseHead, answering request: HTTPRequestHead) -> Bool {
        response.status == .switchingProtocols || (request.method == .CONNECT && (200..<300).contains(response.status.code))
    }

    /// A response read from an HTTP/2 stream, as the client's protocol carries it: its version,
    /// and for an HTTP/1.1 client chunked framing when no length was given (HTTP/2 frames its
    /// bodies itself; chunked framing also carries gRPC's trailers).
    private static func adapt(_ response: inout HTTPResponseHead, fromHTTP2For request: HTTPRequestHead) {
        response.version = request.version
        guard request.version.major == 1, request.method != .HEAD, response.status.code >= 200,
            response.status != .noContent, response.status != .notModified, !response.headers.contains(name: "content-length")
        else { return }
        response.headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked")
    }

    /// Whether the response's body ends only when the backend closes the connection.
    private static func isCloseDelimited(_ response: HTTPResponseHead, answering request: HTTPRequestHead) -> Bool {
        let code = response.status.code
        guard request.method != .HEAD, code >= 200, code != 204, code != 304 else { return false }
        let chunked = response.headers["transfer-encoding"].last?.lowercased().hasSuffix("chunked") ?? false
        return !chunked && !response.headers.contains(name: "content-length")
    }

    private func switchProtocols(with backend: BackendHTTPConnection, response: HTTPResponseHead) {
        guard let context else { return }
        switchingProtocols = true
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        // Outside the decoders' call stacks: they are about to leave the pipelines.
        context.eventLoop.execute { self.splice(with: backend) }
    }

    private func splice(with backend: BackendHTTPConnection) {
        guard let context, !closing, backend.channel.isActive else {
            closeClient()
            return
        }
        // The upgraded connection counts as load until it closes, as a spliced one does.
        if let selector = endExchange()?.selector {
            selector.connectionOpened(to: backend.backend, for: RequestAttributes(), at: proxy.host.now)
            backend.channel.closeFuture.whenComplete { _ in selector.connectionClosed(to: backend.backend) }
        }
        connections[backend.backend] = nil
        for other in connections.keys.sorted() { connections[other]?.close() }
        connections = [:]
        backend.balancer = nil
        let splice = ChannelSpliceHandler()
        let client = context.pipeline.syncOperations
        do {
            try backend.channel.pipeline.syncOperations.addHandler(splice)
            try client.addHandler(splice)
        } catch {
            proxy.logger.error("could not splice an upgraded connection to \(backend.backend): \(error)")
            backend.close()
            context.close(promise: nil)
            return
        }
        // The client's HTTP handlers go first: bytes the backend's decoder still holds are
        // written to the client as soon as that decoder is removed.
        client.removeIfPresent(HTTPServerProtocolErrorHandler.self)
        client.removeIfPresent(HTTPServerPipelineHandler.self)
        client.removeIfPresent(ByteToMessageHandler<HTTPRequestDecoder>.self)
        client.removeIfPresent(HTTPResponseEncoder.self)
        backend.removeHTTPHandlers()
        let inputEnded = clientInputEnded
        if inputEnded {
            splice.inputAlreadyEnded(on: context.channel)
            backend.channel.close(mode: .output, promise: nil)
        }
        client.removeHandler(context: context, promise: nil)
        splice.startReading()
    }
}

extension HTTPRequestHead {
    /// The request as an HTTP/1.1 backend takes it: one read from HTTP/2 gets version 1.1 and,
    /// for a method that carries a body and no `Content-Length`, chunked framing (HTTP/2 frames
    /// its bodies itself). The `Host` header is HTTP/2's `:authority`, which NIO's codec maps.
    var forHTTP11Backend: HTTPRequestHead {
        guard version.major == 2 else { return self }
        var head = self
        head.version = .http1_1
        let bodiless: [HTTPMethod] = [.GET, .HEAD, .DELETE, .OPTIONS, .TRACE]
        if !bodiless.contains(method), !head.headers.contains(name: "content-length") {
            head.headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked")
        }
        return head
    }

    /// An HTTP/1.1 request without the headers that describe only the client's connection
    /// (`Connection`, `Keep-Alive`, `Proxy-Connection`), so a client's `Connection: close` does
    /// not close the backend connection, which the proxy keeps for the next request. Headers a
    /// `Connection` header names stay, as nginx leaves them: a client naming `X-Forwarded-For`
    /// there must not strip what the gateway added. An upgrade keeps them all (the backend must
    /// see it), and so does an HTTP/1.0 request, whose keep-alive is opt-in.
    var withoutHopByHopHeaders: HTTPRequestHead {
        let hopByHop = ["connection", "keep-alive", "proxy-connection"]
        guard version == .http1_1, hopByHop.contains(where: headers.contains(name:)), !headers.contains(name: "upgrade") else {
            return self
        }
        var head = self
        for name in hopByHop { head.headers.remove(name: name) }
        return head
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Removes the pipeline's handler of type `type`, if it has one.
    func removeIfPresent<Handler: RemovableChannelHandler>(_ type: Handler.Type) {
        if let handler = try? self.handler(type: type) { removeHandler(handler, promise: nil) }
    }
}

extension LoadBalancingPolicy {
    /// The one header the policy's hash reads, if it reads one: the only header a request's
    /// summary carries to the selector.
    var hashedHeaderName: String? {
        switch self {
        case .consistentHash(.httpHeaderName(let name), _): name
        case .consistentHash(.httpCookie, _): "cookie"
        default: nil
        }
    }
}

extension HTTPRequestSummary {
    /// The method and target of a parsed request head, and of its headers only those named
    /// `header` (any case): copying every header as Strings, on every request, would cost more
    /// than the rest of the choice.
    init(_ head: HTTPRequestHead, keeping header: String?) {
        let headers = header.map { name in head.headers[name].map { (name: name, value: $0) } } ?? []
        self.init(method: head.method.rawValue, target: head.uri, headers: headers)
    }
}
