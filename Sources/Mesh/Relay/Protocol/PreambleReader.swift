import NIOCore

/// Reads exactly `length` bytes at the start of a stream, hands them to `onPreamble`, then
/// steps out of the pipeline. Bytes that arrived in the same read beyond the preamble are passed
/// on to whatever `onPreamble` installed after this handler, so nothing is lost or reordered.
///
/// `onPreamble` runs on the channel's loop and may add handlers or close the channel.
final class PreambleReader: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let length: Int
    private let onPreamble: (ChannelHandlerContext, [UInt8]) -> Void
    private var collected: ByteBuffer?
    private var done = false

    init(length: Int, onPreamble: @escaping (ChannelHandlerContext, [UInt8]) -> Void) {
        self.length = length
        self.onPreamble = onPreamble
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
        collected = nil
        let preamble = buffer.readBytes(length: length)!
        onPreamble(context, preamble)
        if buffer.readableBytes > 0 {
            context.fireChannelRead(NIOAny(buffer))
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
