import Mesh
import NIOCore

/// A TCP echo server (EdgeMesh's examples use port 2701): every byte comes back.
public enum TCPEchoServerWorkload {
    @discardableResult
    public static func start(on host: any Host, port: UInt16) -> EventLoopFuture<Channel> {
        host.listenStream(
            StreamListenOptions(address: IPv4Address.any.socketAddress(port: port), allowRemoteHalfClosure: true)
        ) { channel in
            channel.pipeline.addHandler(StreamEchoHandler())
        }
    }
}

/// Writes back what it reads; closes after the peer half-closes and the echo is out.
final class StreamEchoHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
