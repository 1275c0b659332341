import NIOCore

/// Joins two data connections of a circuit: every buffer read on one is written, unchanged and
/// unparsed, to the other. Reading from a side pauses while its partner cannot keep up, so a
/// fast sender cannot fill the relay's memory. Closing either side closes both.
///
/// One instance sits in each channel's pipeline; `pair` links them. Both channels must share
/// one event loop (a host's loop).
final class RelaySpliceHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: RelaySpliceHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private let countBytes: (Int) -> Void

    private init(countBytes: @escaping (Int) -> Void) {
        self.countBytes = countBytes
    }

    /// Two handlers, each the other's partner.
    static func pair(countBytes: @escaping (Int) -> Void) -> (RelaySpliceHandler, RelaySpliceHandler) {
        let first = RelaySpliceHandler(countBytes: countBytes)
        let second = RelaySpliceHandler(countBytes: countBytes)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    private func partnerWrite(_ buffer: ByteBuffer) {
        countBytes(buffer.readableBytes)
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    private var partnerWritable: Bool { context?.channel.isWritable ?? false }

    private func partnerClose() {
        context?.close(promise: nil)
    }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.partnerWrite(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClose()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A half-close ends the circuit: tunnel streams close their ends themselves.
        if let event = event as? ChannelEvent, event == .inputClosed {
            partner?.partnerClose()
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if partner?.partnerWritable ?? false {
            context.read()
        } else {
            pendingRead = true
        }
    }
}
