import Mesh
import NIOCore

/// A UDP echo server: every datagram goes back to its sender, whole.
public enum UDPEchoServerWorkload {
    @discardableResult
    public static func start(on host: any Host, port: UInt16) -> EventLoopFuture<Channel> {
        host.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: port))) { channel in
            channel.pipeline.addHandler(DatagramEchoHandler())
        }
    }
}

final class DatagramEchoHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }
}
