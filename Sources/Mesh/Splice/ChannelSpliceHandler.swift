import NIOCore

/// Joins two byte-stream channels so each carries what the other reads: the proxy's client and
/// backend connections, a relay circuit's two data connections, a tunnel stream and the TCP
/// connection it stands for. Bytes pass unchanged and unparsed.
///
/// Back-pressure: a side reads only while the other side is writable, so a slow receiver slows
/// the sender down (through the TCP or stream window) instead of filling memory. The splice owns
/// reading: it turns `autoRead` off and asks for every read itself, and it also holds back reads
/// that arrive through the pipeline, so the rule holds on every backend.
///
/// End of input (a half-close, with `allowRemoteHalfClosure` on) is handled as
/// `endOfInput` says. A side closes once both of its directions are done. Closing or losing
/// either side closes the other, once what is queued for it has been written.
///
/// One handler serves both channels: add the same instance to each pipeline (the first one it
/// is added to is its first side), then call `startReading()`. One object per spliced pair
/// instead of two keeps an idle proxied connection smaller. Both channels must be on the same
/// event loop.
final class ChannelSpliceHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = NIOAny
    typealias OutboundOut = ByteBuffer

    /// What a side's end of input does to the splice.
    enum EndOfInput: Sendable {
        /// Shut the other side's output (TCP half-close carried across), keep the other direction.
        case shutPartnerOutput
        /// End the whole splice: both sides close (for carriers whose own protocol ends streams).
        case closeBoth
    }

    private enum Side {
        case first, second

        var other: Side { self == .first ? .second : .first }
    }

    /// What the splice knows about one side's channel.
    private struct SideState {
        /// A read the channel asked for while the other side could not take more.
        var readHeldBack = false
        var inputClosed = false
        var outputClosed = false
    }

    // Stored in this order on purpose: Swift lays out stored properties as declared, and the
    // one-byte fields packed at the end keep the object in a 64-byte malloc chunk.
    /// Told the size of every buffer carried, in either direction (the relay's byte count).
    private let countBytes: ((Int) -> Void)?
    private var firstContext: ChannelHandlerContext?
    private var secondContext: ChannelHandlerContext?
    private var firstState = SideState()
    private var secondState = SideState()
    private let endOfInput: EndOfInput
    /// Cleared for good when either side goes inactive or leaves: nothing crosses after that.
    private var joined = true

    init(endOfInput: EndOfInput = .shutPartnerOutput, countBytes: ((Int) -> Void)? = nil) {
        self.endOfInput = endOfInput
        self.countBytes = countBytes
    }

    private func context(of side: Side) -> ChannelHandlerContext? {
        side == .first ? firstContext : secondContext
    }

    private func state(of side: Side) -> SideState {
        side == .first ? firstState : secondState
    }

    private func update(_ side: Side, _ body: (inout SideState) -> Void) {
        if side == .first { body(&firstState) } else { body(&secondState) }
    }

    /// The side `context` belongs to.
    private func side(of context: ChannelHandlerContext) -> Side {
        context === firstContext ? .first : .second
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if joined && firstContext == nil && secondContext == nil {
            firstContext = context
        } else {
            secondContext = context
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        joined = false
        if context === firstContext { firstContext = nil } else { secondContext = nil }
    }

    /// `channel`'s input ended before the splice was made (the caller has already shut the
    /// other channel's output), so that side closes once its output is done as well.
    func inputAlreadyEnded(on channel: Channel) {
        let side: Side = firstContext?.channel === channel ? .first : .second
        update(side) { $0.inputClosed = true }
    }

    /// Takes reading over from `autoRead` on both sides and asks for the first reads; later
    /// reads follow each batch while the other side keeps up.
    func startReading() {
        for side in [Side.first, .second] {
            guard let context = context(of: side) else { continue }
            // Synchronously where the channel allows it (NIOPosix): no future per connection.
            if context.channel.turnAutoReadOffSynchronously() {
                if !state(of: side).inputClosed { readIfOtherSideWritable(side) }
                continue
            }
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in
                if !self.state(of: side).inputClosed { self.readIfOtherSideWritable(side) }
            }
        }
    }

    private func readIfOtherSideWritable(_ side: Side) {
        guard let context = context(of: side) else { return }
        if otherSideIsWritable(side) {
            update(side) { $0.readHeldBack = false }
            context.read()
        } else {
            update(side) { $0.readHeldBack = true }
        }
    }

    private func otherSideIsWritable(_ side: Side) -> Bool {
        joined && (context(of: side.other)?.channel.isWritable ?? false)
    }

    // MARK: What one side does to the other

    private func inputEnded(before side: Side) {
        switch endOfInput {
        case .shutPartnerOutput:
            guard !state(of: side).outputClosed else { return }
            afterPendingWrites(on: side) { $0.close(mode: .output, promise: nil) }
        case .closeBoth:
            otherSideClosed(before: side)
        }
    }

    private func otherSideClosed(before side: Side) {
        joined = false
        afterPendingWrites(on: side) { $0.close(promise: nil) }
    }

    /// Runs `body` on `side`'s channel once everything the other side sent it has been
    /// written: a close now would throw away what is still queued (the tail of a response
    /// whose server closed right after sending it).
    private func afterPendingWrites(on side: Side, _ body: @escaping @Sendable (Channel) -> Void) {
        guard let context = context(of: side) else { return }
        let channel = context.channel
        if Self.holdsNoUnwrittenBytes(channel) {
            body(channel)
            return
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0)), promise: written)
        written.futureResult.whenComplete { _ in body(channel) }
    }

    /// Whether `channel` says, synchronously (NIOPosix channels do), that every byte written to
    /// it has gone out: then nothing is left to wait for, and the empty write would cost a
    /// buffer and a promise on every close. It counts only what reached the channel, which is
    /// all there is where the handlers below the splice pass writes straight on, as in every
    /// pipeline the mesh splices (the splice is the last handler).
    private static func holdsNoUnwrittenBytes(_ channel: Channel) -> Bool {
        guard let options = channel.syncOptions else { return false }
        return (try? options.getOption(ChannelOptions.bufferedWritableBytes)) == 0
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let countBytes { countBytes(unwrapInboundIn(data).readableBytes) }
        guard joined, let other = self.context(of: side(of: context).other) else { return }
        other.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        let side = side(of: context)
        if joined { self.context(of: side.other)?.flush() }
        if !state(of: side).inputClosed { readIfOtherSideWritable(side) }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if joined { otherSideClosed(before: side(of: context).other) }
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let other = side(of: context).other
        if context.channel.isWritable, joined, state(of: other).readHeldBack {
            update(other) { $0.readHeldBack = false }
            self.context(of: other)?.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        let side = side(of: context)
        switch event {
        case ChannelEvent.inputClosed:
            update(side) { $0.inputClosed = true }
            if joined { inputEnded(before: side.other) }
            if state(of: side).outputClosed || endOfInput == .closeBoth { context.close(promise: nil) }
        case ChannelEvent.outputClosed:
            update(side) { $0.outputClosed = true }
            if state(of: side).inputClosed { context.close(promise: nil) }
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A reset or an I/O error ends the whole spliced connection; both sides close.
        context.close(promise: nil)
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        let side = side(of: context)
        if otherSideIsWritable(side) {
            context.read()
        } else {
            update(side) { $0.readHeldBack = true }
        }
    }
}
