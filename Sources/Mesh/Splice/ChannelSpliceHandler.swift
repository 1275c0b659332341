import NIOCore

/// Joins two byte-stream channels so each carries what the other reads: the proxy's client and
/// backend connections, a relay circuit's two data connections, a tunnel stream and the TCP
/// connection it stands for. Bytes pass unchanged and unparsed.
///
/// Back-pressure: a side reads only while its partner is writable, so a slow receiver slows the
/// sender down (through the TCP or stream window) instead of filling memory. The splice owns
/// reading: it turns `autoRead` off and asks for every read itself, and it also holds back reads
/// that arrive through the pipeline, so the rule holds on every backend.
///
/// End of input (a half-close, with `allowRemoteHalfClosure` on) is handled as
/// `endOfInput` says. A side closes once both of its directions are done. Closing or losing
/// either side closes the other, once what is queued for it has been written.
///
/// Made in pairs with `makePair`; each handler lives on its own channel. Both channels must be
/// on the same event loop. Call `startReading()` on both once both are in their pipelines.
final class ChannelSpliceHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = NIOAny
    typealias OutboundOut = ByteBuffer

    /// What a side's end of input does to the splice.
    enum EndOfInput: Sendable {
        /// Shut the partner's output (TCP half-close carried across), keep the other direction.
        case shutPartnerOutput
        /// End the whole splice: both sides close (for carriers whose own protocol ends streams).
        case closeBoth
    }

    private let endOfInput: EndOfInput
    /// Told the size of every buffer carried, in either direction (the relay's byte count).
    private let countBytes: ((Int) -> Void)?
    private var partner: ChannelSpliceHandler?
    private var context: ChannelHandlerContext?
    /// A read the channel asked for while the partner could not take more.
    private var readHeldBack = false
    private var inputClosed = false
    private var outputClosed = false

    static func makePair(
        endOfInput: EndOfInput = .shutPartnerOutput,
        countBytes: ((Int) -> Void)? = nil
    ) -> (ChannelSpliceHandler, ChannelSpliceHandler) {
        let first = ChannelSpliceHandler(endOfInput: endOfInput, countBytes: countBytes)
        let second = ChannelSpliceHandler(endOfInput: endOfInput, countBytes: countBytes)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    private init(endOfInput: EndOfInput, countBytes: ((Int) -> Void)?) {
        self.endOfInput = endOfInput
        self.countBytes = countBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    /// The channel's input ended before the splice was made (the caller has already shut the
    /// partner's output), so the side closes once its output is done as well.
    func inputAlreadyEnded() {
        inputClosed = true
    }

    /// Takes reading over from `autoRead` and asks for the first read; later reads follow each
    /// batch while the partner keeps up.
    func startReading() {
        guard let context else { return }
        // Synchronously where the channel allows it (NIOPosix): no future per connection.
        if let options = context.channel.syncOptions, (try? options.setOption(ChannelOptions.autoRead, value: false)) != nil {
            if !inputClosed { readIfPartnerWritable() }
            return
        }
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in
            if !self.inputClosed { self.readIfPartnerWritable() }
        }
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
        switch endOfInput {
        case .shutPartnerOutput:
            guard !outputClosed else { return }
            afterPendingWrites { $0.close(mode: .output, promise: nil) }
        case .closeBoth:
            partnerClosed()
        }
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
        if let countBytes { countBytes(unwrapInboundIn(data).readableBytes) }
        partner?.partnerWrite(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
        if !inputClosed { readIfPartnerWritable() }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClosed()
        partner = nil
        context.fireChannelInactive()
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
            if outputClosed || endOfInput == .closeBoth { context.close(promise: nil) }
        case ChannelEvent.outputClosed:
            outputClosed = true
            if inputClosed { context.close(promise: nil) }
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
        if partnerIsWritable {
            context.read()
        } else {
            readHeldBack = true
        }
    }
}
