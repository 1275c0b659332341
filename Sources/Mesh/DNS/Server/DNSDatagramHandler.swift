import NIOCore

/// Answers each DNS datagram with one datagram back to its sender.
final class DNSDatagramHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let server: DNSServer

    init(server: DNSServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let channel = context.channel
        server.answer(envelope.data, from: envelope.remoteAddress, overUDP: true).whenSuccess { response in
            guard let response else { return }
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: response), promise: nil)
        }
    }

    /// A send error (an unreachable client, say) concerns one client only; the socket stays open.
    func errorCaught(context: ChannelHandlerContext, error: Error) {}
}
