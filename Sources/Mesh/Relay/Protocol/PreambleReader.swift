import NIOCore

/// Reads exactly `length` bytes at the start of a stream, hands them to `onPreamble`, then
/// steps out of the pipeline. Bytes that arrived in the same read beyond the preamble are passed
/// on to whatever `onPreamble` installed after this handler, so nothing is lost or reordered.
///
/// `onPreamble` runs on the channel's loop and may add handlers or close the channel. A peer that
/// has not sent the whole preamble within `timeout` of this handler's arrival is closed: anyone
/// can connect to a relay or a punch port, and a connection that never speaks must not hold a
/// descriptor for ever.
final class PreambleReader: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let length: Int
    private let onPreamble: (ChannelHandlerContext, [UInt8]) -> Void
    private let timeout: TimeAmount
    private var collected: ByteBuffer?
    private var done = false
    private var deadline: Scheduled<Void>?

    init(length: Int, timeout: TimeAmount, onPreamble: @escaping (ChannelHandlerContext, [UInt8]) -> Void) {
        self.length = length
        self.timeout = timeout
        self.onPreamble = onPreamble
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { [weak self] in
            guard let self, !self.done else { return }
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        guard !done else {
            context.fireChannelRead(NIOAny(incoming))
            return
        }
        if collected == nil {
            collected = incoming
        } else {
            collected!.writeBuffer(&incoming)
        }
        guard var buffer = collected, buffer.readableBytes >= length else { return }
        done = true
        deadline?.cancel()
        deadline = nil
        collected = nil
        let preamble = buffer.readBytes(length: length)!
        onPreamble(context, preamble)
        if buffer.readableBytes > 0 {
            context.fireChannelRead(NIOAny(buffer))
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
