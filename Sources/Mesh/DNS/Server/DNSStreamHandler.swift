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
    private var hasUnflushedWrites = false

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
            switch server.reply(to: message, from: context.channel.remoteAddress, overUDP: false) {
            case .immediate(let response):
                guard let response else { continue }
                context.write(wrapOutboundOut(Self.framed(response, allocator: context.channel.allocator)), promise: nil)
                hasUnflushedWrites = true
            case .later(let future):
                let channel = context.channel
                future.whenSuccess { response in
                    guard let response else { return }
                    channel.writeAndFlush(Self.framed(response, allocator: channel.allocator), promise: nil)
                }
            }
        }
        pending.discardReadBytes()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if hasUnflushedWrites {
            hasUnflushedWrites = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    private static func framed(_ response: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var framed = allocator.buffer(capacity: response.readableBytes + 2)
        framed.writeInteger(UInt16(response.readableBytes))
        framed.writeImmutableBuffer(response)
        return framed
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
