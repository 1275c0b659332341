import NIOCore

/// DNS over one TCP connection: messages framed by a 2-octet length (RFC 1035 §4.2.2), several
/// per connection. Answers from the cluster zone go out in order; forwarded ones when they come,
/// which RFC 7766 §6.2.1.1 allows (clients match by ID).
final class DNSStreamHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let server: DNSServer
    /// Bytes of an incomplete frame; a frame is at most 2 + 65,535 octets, so this stays bounded.
    private var pending = ByteBuffer()

    init(server: DNSServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        pending.writeBuffer(&incoming)
        while let length = pending.getInteger(at: pending.readerIndex, as: UInt16.self),
              pending.readableBytes >= 2 + Int(length)
        {
            pending.moveReaderIndex(forwardBy: 2)
            let message = pending.readSlice(length: Int(length))!
            let channel = context.channel
            server.answer(message, from: channel.remoteAddress, overUDP: false).whenSuccess { response in
                guard let response else { return }
                var framed = channel.allocator.buffer(capacity: response.readableBytes + 2)
                framed.writeInteger(UInt16(response.readableBytes))
                framed.writeImmutableBuffer(response)
                channel.writeAndFlush(framed, promise: nil)
            }
        }
        pending.discardReadBytes()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
