import NIOCore

/// Answers each DNS datagram with one datagram back to its sender. Answers known at once are
/// written as they come and flushed once per read batch, so the backend can send them together
/// (sendmmsg on Linux); forwarded ones go out when the upstream answers.
final class DNSDatagramHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let server: DNSServer
    private var hasUnflushedWrites = false

    init(server: DNSServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let client = envelope.remoteAddress
        switch server.reply(to: envelope.data, from: client, overUDP: true) {
        case .immediate(let response):
            guard let response else { return }
            context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: client, data: response)), promise: nil)
            hasUnflushedWrites = true
        case .later(let future):
            let channel = context.channel
            future.whenSuccess { response in
                guard let response else { return }
                channel.writeAndFlush(AddressedEnvelope(remoteAddress: client, data: response), promise: nil)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if hasUnflushedWrites {
            hasUnflushedWrites = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    /// A send error (an unreachable client, say) concerns one client only; the socket stays open.
    func errorCaught(context: ChannelHandlerContext, error: Error) {}
}
