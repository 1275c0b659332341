import NIOCore

/// DNS over one TCP connection: messages framed by a 2-octet length (RFC 1035 §4.2.2), several
/// per connection. Answers from the cluster zone go out in order; forwarded ones when they come,
/// which RFC 7766 §6.2.1.1 allows (clients match by ID).
///
/// Back-pressure: while the connection cannot take more output (a client that pipelines and
/// never reads) or `maximumForwardedInFlight` of its queries wait on the upstreams, no further
/// message is taken and the socket is not read, so what the client can make the agent hold is
/// bounded by the socket buffers and one frame.
final class DNSStreamHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Forwarded queries of one connection waiting on the upstreams at once.
    static let maximumForwardedInFlight = 32

    private let server: DNSServer
    private var context: ChannelHandlerContext?
    /// Bytes of incomplete or not yet taken frames: at most a frame (2 + 65,535 octets) and a
    /// read's worth, since reading stops while messages wait.
    private var pending = ByteBuffer()
    private var hasUnflushedWrites = false
    private var forwardedInFlight = 0
    /// A read NIO asked for while paused, to pass on once the connection can take output again.
    private var readHeld = false

    init(server: DNSServer) {
        self.server = server
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    private func isPaused(_ context: ChannelHandlerContext) -> Bool {
        !context.channel.isWritable || forwardedInFlight >= Self.maximumForwardedInFlight
    }

    func read(context: ChannelHandlerContext) {
        guard !isPaused(context) else {
            readHeld = true
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resume(context)
        context.fireChannelWritabilityChanged()
    }

    /// Takes the messages that waited, then the read that was held, once no longer paused.
    private func resume(_ context: ChannelHandlerContext) {
        guard !isPaused(context) else { return }
        takeMessages(context)
        if hasUnflushedWrites {
            hasUnflushedWrites = false
            context.flush()
        }
        if readHeld, !isPaused(context) {
            readHeld = false
            context.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        pending.writeBuffer(&incoming)
        takeMessages(context)
    }

    private func takeMessages(_ context: ChannelHandlerContext) {
        while !isPaused(context), let length = pending.getInteger(at: pending.readerIndex, as: UInt16.self),
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
                forwardedInFlight += 1
                future.whenComplete { result in
                    self.forwardedInFlight -= 1
                    if case .success(let response?) = result {
                        channel.writeAndFlush(Self.framed(response, allocator: channel.allocator), promise: nil)
                    }
                    if let context = self.context { self.resume(context) }
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
