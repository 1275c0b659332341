import NIOCore

/// Reads the one reply to a query the forwarder sent an upstream over TCP (RFC 7766: a
/// two-byte length, then the message) and closes. A reply for another ID or question, a
/// message that does not decode, or a connection that ends first completes with `nil`. At most
/// one message (64 KiB) is ever buffered.
final class DNSUpstreamStreamReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private let id: UInt16
    private let question: DNSQuestion
    private let promise: EventLoopPromise<DNSMessage?>
    private var received = ByteBuffer()
    private var answered = false

    init(id: UInt16, question: DNSQuestion, promise: EventLoopPromise<DNSMessage?>) {
        self.id = id
        self.question = question
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        guard let length = received.getInteger(at: received.readerIndex, as: UInt16.self),
            let message = received.getSlice(at: received.readerIndex + 2, length: Int(length))
        else { return }
        let reply = try? DNSMessage(decoding: message)
        if let reply, reply.header.isResponse, reply.header.id == id, reply.questions == [question] {
            answer(reply, context: context)
        } else {
            answer(nil, context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !answered {
            answered = true
            promise.succeed(nil)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        answer(nil, context: context)
    }

    private func answer(_ reply: DNSMessage?, context: ChannelHandlerContext) {
        guard !answered else { return }
        answered = true
        promise.succeed(reply)
        context.close(promise: nil)
    }
}
