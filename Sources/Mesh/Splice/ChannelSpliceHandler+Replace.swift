import NIOCore

extension ChannelSpliceHandler {
    /// Puts a splice between `context`'s channel and `backend` in place of `context`'s handler
    /// (the proxy's, the gateway's or the SOCKS5 proxy's, once its backend is connected): the
    /// bytes that handler read first go to the backend, a client input that already ended is
    /// carried across as a half-close, then both sides read. Throws when a pipeline refuses the
    /// splice; the caller then closes what it must.
    static func replace(
        _ context: ChannelHandlerContext, splicingTo backend: Channel, replaying received: ByteBuffer = ByteBuffer(),
        clientInputEnded: Bool = false
    ) throws {
        let splice = ChannelSpliceHandler()
        try backend.pipeline.syncOperations.addHandler(splice)
        try context.pipeline.syncOperations.addHandler(splice)
        if received.readableBytes > 0 { backend.writeAndFlush(received, promise: nil) }
        if clientInputEnded {
            splice.inputAlreadyEnded(on: context.channel)
            backend.close(mode: .output, promise: nil)
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        splice.startReading()
    }
}
