import NIOCore

/// One SOCKS5 client, from greeting to splice: method selection, username/password when the
/// proxy requires it, one CONNECT request, then the connection to the node (through the
/// tunnel), a reply, and a `ChannelSpliceHandler` in its place.
///
/// The channel's `autoRead` is off: it reads only while a handshake message is incomplete, so
/// a client cannot make it buffer more than one message (`Socks5Wire.longestMessage`), and not
/// at all while the connection to the node is being made. Bytes that came after the request
/// go to the node first. A handshake that takes longer than `handshakeTimeout`, or a message
/// that does not parse, closes the connection.
final class Socks5SessionHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case greeting
        case authenticating
        case requesting
        case connecting
        case spliced
        case closed
    }

    private let proxy: Socks5NodeProxy
    private var state = State.greeting
    private var received = ByteBuffer()
    private var clientInputEnded = false
    private var deadline: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(proxy: Socks5NodeProxy) {
        self.proxy = proxy
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let limit = proxy.configuration.handshakeTimeout
        deadline = context.eventLoop.scheduleTask(in: limit) { [weak self] in
            self?.fail("no complete request within \(limit.nanoseconds / 1_000_000) ms")
        }
        // A read asked for before the channel is active is lost: then `channelActive` asks.
        if context.channel.isActive { context.read() }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.read()
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        advance(context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            clientInputEnded = true
            if case .connecting = state { return }
            fail("the client ended its side during the handshake")
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        deadline?.cancel()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail("\(error)")
    }

    /// Handles every complete message in `received`; asks for more when one is incomplete.
    private func advance(_ context: ChannelHandlerContext) {
        while true {
            switch state {
            case .greeting:
                switch Socks5Wire.greeting(&received) {
                case .needMore: return readMore(context)
                case .invalid(let reason): return fail(reason)
                case .message(let methods):
                    let wanted: Socks5Wire.Method = proxy.configuration.credentials == nil ? .noAuthentication : .usernamePassword
                    guard methods.contains(wanted.rawValue) else {
                        context.writeAndFlush(wrapOutboundOut(Socks5Wire.methodSelection(.noneAcceptable)), promise: nil)
                        if wanted == .usernamePassword { proxy.statistics.authenticationFailures += 1 }
                        return fail("the client offers none of the methods the proxy accepts", closeNow: false)
                    }
                    context.writeAndFlush(wrapOutboundOut(Socks5Wire.methodSelection(wanted)), promise: nil)
                    state = wanted == .usernamePassword ? .authenticating : .requesting
                }
            case .authenticating:
                switch Socks5Wire.credentials(&received) {
                case .needMore: return readMore(context)
                case .invalid(let reason): return fail(reason)
                case .message(let (username, password)):
                    let accepted = proxy.configuration.credentials?.accepts(username: username, password: password) ?? false
                    context.writeAndFlush(wrapOutboundOut(Socks5Wire.authenticationStatus(succeeded: accepted)), promise: nil)
                    guard accepted else {
                        proxy.statistics.authenticationFailures += 1
                        return fail("wrong username or password", closeNow: false)
                    }
                    state = .requesting
                }
            case .requesting:
                switch Socks5Wire.request(&received) {
                case .needMore: return readMore(context)
                case .invalid(let reason):
                    return refuse(.generalFailure, because: reason)
                case .message(let request):
                    return connect(request)
                }
            case .connecting, .spliced, .closed:
                return
            }
        }
    }

    private func readMore(_ context: ChannelHandlerContext) {
        guard received.readableBytes <= Socks5Wire.longestMessage else { return fail("a handshake message longer than any SOCKS5 message") }
        if clientInputEnded { return fail("the client ended its side during the handshake") }
        context.read()
    }

    private func connect(_ request: Socks5Wire.Request) {
        switch proxy.backend(for: request) {
        case .failure(let code):
            refuse(code, because: "\(request.destination):\(request.port)")
        case .success(let backend):
            state = .connecting
            deadline?.cancel()
            proxy.dialer.dialStream(backend).whenComplete { result in
                switch result {
                case .success(let channel): self.splice(with: channel, backend: backend)
                case .failure(let error):
                    self.refuse(Socks5NodeProxy.replyCode(for: error), because: "\(backend.nodeName ?? "?") \(backend): \(error)")
                }
            }
        }
    }

    private func splice(with backend: Channel, backend target: ServiceBackend) {
        guard case .connecting = state, let context else {
            backend.close(promise: nil)
            return
        }
        state = .spliced
        proxy.statistics.sessionsConnected += 1
        proxy.onConnected?(proxy.dialer.flow(
            to: target, over: backend, service: "node \(target.nodeName ?? "?")", transport: .socks5, client: context.channel.remoteAddress))
        proxy.logger.debug("socks5: \(context.channel.remoteAddress.map { "\($0)" } ?? "?") connected to \(target.nodeName ?? "?") port \(target.port)")
        context.writeAndFlush(wrapOutboundOut(Socks5Wire.reply(.succeeded)), promise: nil)
        let replayed = received
        received = ByteBuffer()
        do {
            try ChannelSpliceHandler.replace(context, splicingTo: backend, replaying: replayed, clientInputEnded: clientInputEnded)
        } catch {
            backend.close(promise: nil)
            context.close(promise: nil)
        }
    }

    /// Replies with `code` and closes once the reply is written.
    private func refuse(_ code: Socks5ReplyCode, because reason: String) {
        guard let context, state != .closed else { return }
        proxy.refused(code)
        proxy.logger.debug("socks5: refused (\(code)): \(reason)")
        state = .closed
        deadline?.cancel()
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(Socks5Wire.reply(code))).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Ends the session: at once, or once what was written is out (`closeNow: false`).
    private func fail(_ reason: String, closeNow: Bool = true) {
        guard let context, state != .closed else { return }
        proxy.logger.debug("socks5: session ended: \(reason)")
        state = .closed
        deadline?.cancel()
        if closeNow {
            context.close(promise: nil)
        } else {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
