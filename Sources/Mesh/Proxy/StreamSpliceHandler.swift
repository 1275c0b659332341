import NIOCore

/// Joins two stream channels into one proxied connection: what one side reads the other
/// writes, in both directions, with back-pressure and half-close.
///
/// Back-pressure: a side reads only while its partner is writable, so a slow receiver slows
/// the sender down (through the TCP window) instead of filling the proxy's memory. Both
/// channels run with `autoRead` off and the handler asks for each read itself (rather than
/// vetoing automatic reads, as NIO's GlueHandler does), so the rule holds on any backend,
/// whatever route its automatic reads take. Half-close:
/// end of input on one side shuts the partner's output, and a side closes once both of its
/// directions are done. Closing or losing either side closes the other.
///
/// Made in pairs with `makePair()`; each handler lives on its own channel. Both channels must
/// be on the same event loop.
final class StreamSpliceHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = NIOAny
    typealias OutboundOut = ByteBuffer

    private var partner: StreamSpliceHandler?
    private var context: ChannelHandlerContext?
    /// A read the channel asked for while the partner could not take more.
    private var readHeldBack = false
    private var inputClosed = false
    private var outputClosed = false

    static func makePair() -> (StreamSpliceHandler, StreamSpliceHandler) {
        let first = StreamSpliceHandler(), second = StreamSpliceHandler()
        first.partner = second
        second.partner = first
        return (first, second)
    }

    private init() {}

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    /// The channel's input ended before the splice was made (the proxy has already shut the
    /// partner's output), so the side closes once its output is done as well.
    func inputAlreadyEnded() {
        inputClosed = true
    }

    /// Asks for the first read; later reads follow each batch while the partner keeps up.
    func startReading() {
        readIfPartnerWritable()
    }

    private func readIfPartnerWritable() {
        guard let context else { return }
        if partnerIsWritable {
            readHeldBack = false
            context.read()
        } else {
            readHeldBack = true
        }
    }

    // MARK: Calls from the partner

    private func partnerWrite(_ data: NIOAny) {
        context?.write(data, promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    private func partnerInputEnded() {
        guard !outputClosed else { return }
        afterPendingWrites { $0.close(mode: .output, promise: nil) }
    }

    private func partnerClosed() {
        partner = nil
        afterPendingWrites { $0.close(promise: nil) }
    }

    /// Runs `body` on this side's channel once everything the partner sent it has been
    /// written: a close now would throw away what is still queued (the tail of a response
    /// whose server closed right after sending it).
    private func afterPendingWrites(_ body: @escaping @Sendable (Channel) -> Void) {
        guard let context else { return }
        let channel = context.channel
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0)), promise: written)
        written.futureResult.whenComplete { _ in body(channel) }
    }

    private var partnerIsWritable: Bool {
        partner?.context?.channel.isWritable ?? false
    }

    private func partnerBecameWritable() {
        if readHeldBack {
            readHeldBack = false
            context?.read()
        }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.partnerWrite(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
        if !inputClosed { readIfPartnerWritable() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClosed()
        partner = nil
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case ChannelEvent.inputClosed:
            inputClosed = true
            partner?.partnerInputEnded()
            if outputClosed { context.close(promise: nil) }
        case ChannelEvent.outputClosed:
            outputClosed = true
            if inputClosed { context.close(promise: nil) }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A reset or an I/O error ends the whole proxied connection; both sides close.
        context.close(promise: nil)
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        if partnerIsWritable {
            context.read()
        } else {
            readHeldBack = true
        }
    }
}
