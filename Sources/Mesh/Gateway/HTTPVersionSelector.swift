import NIOCore
import NIOTLS

/// Chooses HTTP/1.1 or HTTP/2 for one gateway connection, then puts the chosen server stack
/// after itself and leaves: over TLS by ALPN (`h2` or `http/1.1`, as the client and the
/// gateway's context agreed), in clear text by whether the client opens with HTTP/2's
/// connection preface (h2c with prior knowledge, as `curl --http2-prior-knowledge` and gRPC
/// clients do). Bytes read while deciding are handed to the chosen stack, which reads on.
///
/// The connection's `autoRead` is off: this handler asks for reads until it has decided. A client
/// that has not let it decide within `timeout` (no TLS handshake, a preface trickling in) is
/// closed, as one that sends no request head is.
final class HTTPVersionSelector: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Negotiation {
        /// TLS below: the handshake's ALPN result decides.
        case alpn
        /// Clear text: the first bytes decide.
        case priorKnowledge
    }

    private let negotiation: Negotiation
    /// Puts the stack for HTTP/2 (true) or HTTP/1.1 (false) at the end of the pipeline.
    private let install: (ChannelPipeline.SynchronousOperations, Bool) throws -> Void
    private let timeout: TimeAmount
    private var received: ByteBuffer?
    private var decided = false
    private var deadline: Scheduled<Void>?

    init(
        negotiation: Negotiation, timeout: TimeAmount,
        install: @escaping (ChannelPipeline.SynchronousOperations, Bool) throws -> Void
    ) {
        self.negotiation = negotiation
        self.timeout = timeout
        self.install = install
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        if channel.isActive { context.read() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decided else { return context.fireChannelRead(data) }
        var bytes = unwrapInboundIn(data)
        if received == nil { received = bytes } else { received!.writeBuffer(&bytes) }
        guard case .priorKnowledge = negotiation, let received else { return }
        if let http2 = HTTPRequestHeadPeek.opensWithHTTP2Preface(received) { decide(http2: http2, context: context) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !decided { context.read() }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .alpn = negotiation, case TLSUserEvent.handshakeCompleted(let negotiated) = event {
            context.fireUserInboundEventTriggered(event)
            decide(http2: negotiated == "h2", context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func decide(http2: Bool, context: ChannelHandlerContext) {
        guard !decided else { return }
        decided = true
        deadline?.cancel()
        deadline = nil
        do {
            try install(context.pipeline.syncOperations, http2)
        } catch {
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        if let received {
            self.received = nil
            context.fireChannelRead(wrapInboundOut(received))
        }
        // The chosen stack asks for its next read here, as the connection is already active.
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
