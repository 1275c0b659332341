import NIOCore

/// Takes one intercepted TCP connection from accept to splice: finds which service it was
/// headed for, connects to a backend, replays the bytes read so far, then hands both channels to
/// a `ChannelSpliceHandler` and steps out of the pipeline. When the policy hashes on a request
/// field and the client speaks HTTP, it hands the connection to an `HTTPRequestBalancer`
/// instead, which chooses a backend per request; when the service's port speaks HTTP/2 (gRPC)
/// and the client opens with HTTP/2's preface, to one balancer per stream, so the calls of one
/// client connection spread over the backends, as Envoy balances gRPC.
///
/// The accepted channel starts with `autoRead` off (and keeps it off: the splice asks for
/// reads), so nothing is read that is not needed for the choice; bytes read while choosing go
/// to the backend first, unchanged.
final class InterceptedStreamHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        case idle
        case resolving
        case readingRequestHead(ProxyRoute)
        case connecting
        case spliced
        case closed
    }

    private let proxy: ServiceProxy
    private var state = State.idle
    private var context: ChannelHandlerContext?
    /// Everything the client sent before the splice; replayed to the backend.
    private var received = ByteBuffer()
    private var clientInputEnded = false
    private var headTimeout: Scheduled<Void>?

    init(proxy: ServiceProxy) {
        self.proxy = proxy
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard case .idle = state else { return }
        state = .resolving
        proxy.statistics.streamsAccepted += 1
        proxy.host.originalDestination(of: context.channel).whenComplete { result in
            self.resolved((try? result.get()) ?? nil)
        }
    }

    private func resolved(_ destination: SocketAddress?) {
        guard case .resolving = state, let context else { return }
        guard let destination, let address = destination.ipv4Address, let port = destination.port else {
            refuse(ServiceProxyError.notIntercepted(client: context.channel.remoteAddress.map { "\($0)" } ?? "?"))
            return
        }
        let target = ProxiedAddress(transport: .tcp, address: address, port: UInt16(port))
        guard let route = proxy.route(to: target) else {
            refuse(ServiceProxyError.unknownService(target))
            return
        }
        if route.policy.needsHTTPRequest || route.backendsSpeakHTTP2 {
            state = .readingRequestHead(route)
            headTimeout = context.eventLoop.scheduleTask(in: proxy.configuration.requestHeadTimeout) {
                self.spliceUnread()
            }
            context.read()
        } else {
            connect(route)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        guard case .readingRequestHead(let route) = state else { return }
        // HTTP is balanced request by request, HTTP/2 stream by stream; other bytes (TLS) are
        // spliced unread.
        if route.backendsSpeakHTTP2, let http2 = HTTPRequestHeadPeek.opensWithHTTP2Preface(received), http2 {
            return balanceRequests(route, context: context, http2: true)
        }
        switch HTTPRequestHeadPeek.opensWithRequestMethod(received) {
        case nil: context.read()
        case true?: balanceRequests(route, context: context)
        case false?:
            // The start of the preface: more bytes tell.
            if route.backendsSpeakHTTP2, HTTPRequestHeadPeek.opensWithHTTP2Preface(received) == nil { return context.read() }
            spliceUnread()
        }
    }

    /// Hands the connection to an `HTTPRequestBalancer`, with the bytes read so far.
    private func balanceRequests(_ route: ProxyRoute, context: ChannelHandlerContext, http2: Bool = false) {
        headTimeout?.cancel()
        state = .spliced
        do {
            if http2 {
                try HTTPRequestBalancer.installHTTP2(on: context.channel, proxy: proxy, routing: .service(route))
            } else {
                try HTTPRequestBalancer.install(on: context.pipeline.syncOperations, proxy: proxy, route: route)
            }
        } catch {
            refuse(error)
            return
        }
        proxy.statistics.streamsProxied += 1
        let bytes = received
        received = ByteBuffer()
        context.fireChannelRead(wrapInboundOut(bytes))
        context.fireChannelReadComplete()
        if clientInputEnded { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            clientInputEnded = true
            if case .readingRequestHead = state {
                // Too few bytes to tell HTTP from anything else: spliced unread.
                spliceUnread()
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        headTimeout?.cancel()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        proxy.logger.debug("intercepted connection failed before it was proxied: \(error)")
        context.close(promise: nil)
    }

    /// Bytes that are not HTTP (or none in time, from a server-speaks-first protocol) under a
    /// policy that hashes on a request field: the connection is spliced, chosen without one.
    private func spliceUnread() {
        guard case .readingRequestHead(let route) = state else { return }
        headTimeout?.cancel()
        headTimeout = nil
        connect(route)
    }

    private func connect(_ route: ProxyRoute) {
        guard let context else { return }
        state = .connecting
        let request = RequestAttributes(clientAddress: context.channel.remoteAddress?.ipv4Address)
        proxy.connectStream(for: route, request: request, client: context.channel.remoteAddress).whenComplete { result in
            switch result {
            case .success(let backend): self.splice(with: backend)
            case .failure(let error): self.refuse(error)
            }
        }
    }

    private func splice(with backend: ConnectedBackend) {
        guard case .connecting = state, let context else {
            backend.channel.close(promise: nil)
            return
        }
        state = .spliced
        proxy.statistics.streamsProxied += 1
        let replayed = received
        received = ByteBuffer()
        do {
            try ChannelSpliceHandler.replace(context, splicingTo: backend.channel, replaying: replayed, clientInputEnded: clientInputEnded)
        } catch {
            proxy.logger.error("could not splice a connection to \(backend.choice.backend): \(error)")
            backend.channel.close(promise: nil)
            context.close(promise: nil)
        }
    }

    /// Resets the client's connection: a graceful close would read as an empty answer (curl's
    /// "empty reply", a database driver's "connection closed") where the truth is a failure.
    private func refuse(_ error: Error) {
        proxy.statistics.streamsRefused += 1
        proxy.logger.debug("connection not proxied: \(error)")
        state = .closed
        if let context { proxy.host.resetStream(context.channel) }
    }
}
