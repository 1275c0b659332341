import NIOCore

/// Waits on a forwarding socket for the reply to one upstream query. Anything else (from another
/// address or port than the upstream's, another ID, another question, a query, garbage) is
/// ignored: it may be spoofed (RFC 5452 §9.1), and the real reply may still come.
final class DNSUpstreamReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let id: UInt16
    private let question: DNSQuestion
    private let upstream: SocketAddress
    private let promise: EventLoopPromise<DNSMessage?>
    /// A duplicated reply must not complete the promise twice.
    private var answered = false

    init(id: UInt16, question: DNSQuestion, upstream: SocketAddress, promise: EventLoopPromise<DNSMessage?>) {
        self.id = id
        self.question = question
        self.upstream = upstream
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard envelope.remoteAddress == upstream, let reply = try? DNSMessage(decoding: envelope.data),
              !answered, reply.header.isResponse, reply.header.id == id, reply.questions == [question]
        else { return }
        answered = true
        promise.succeed(reply)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {}
}
