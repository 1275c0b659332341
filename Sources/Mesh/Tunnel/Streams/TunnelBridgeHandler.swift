import NIOCore

/// Joins two byte-stream channels (a tunnel stream and the TCP connection it stands for) so
/// bytes, half-closes and closes cross between them; a side whose partner cannot take more
/// stops reading until it can, so a slow consumer slows its producer and nothing piles up.
final class TunnelBridgeHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: TunnelBridgeHandler?
    private var context: ChannelHandlerContext?
    private var pendingFlush = false

    private init() {}

    /// Two handlers, one for each channel, bound to each other.
    static func pair() -> (TunnelBridgeHandler, TunnelBridgeHandler) {
        let first = TunnelBridgeHandler()
        let second = TunnelBridgeHandler()
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.partnerWrite(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            partner?.partnerCloseOutput()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        partner?.partnerSetReading(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    // MARK: Called by the partner

    private func partnerWrite(_ data: ByteBuffer) {
        context?.write(wrapOutboundOut(data), promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    private func partnerCloseOutput() {
        guard let context else { return }
        context.close(mode: .output, promise: nil)
    }

    /// The partner is gone: send what is still queued here, then close. (Closing at once would
    /// drop a response still waiting for window, like the tail of a download.)
    private func partnerClose() {
        guard let channel = context?.channel else { return }
        channel.close(mode: .output).whenComplete { _ in channel.close(promise: nil) }
    }

    private func partnerSetReading(_ reading: Bool) {
        _ = context?.channel.setOption(ChannelOptions.autoRead, value: reading)
    }
}
