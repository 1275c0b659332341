import NIOCore

/// DNS over one TCP connection: messages framed by a 2-octet length (RFC 1035 §4.2.2), several
/// per connection, answered in the order they arrive.
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
            guard let response = server.answer(message, from: context.channel.remoteAddress, overUDP: false) else {
                continue
            }
            var framed = context.channel.allocator.buffer(capacity: response.readableBytes + 2)
            framed.writeInteger(UInt16(response.readableBytes))
            framed.writeImmutableBuffer(response)
            context.write(wrapOutboundOut(framed), promise: nil)
        }
        pending.discardReadBytes()
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
