import Mesh
import NIOCore
import NIOHTTP1
import NIOHTTP2

/// A gRPC server as far as the wire goes: HTTP/2 in clear text (h2c with prior knowledge, as
/// gRPC between pods runs), each call answered with one length-prefixed message, its pod name,
/// and `grpc-status: 0` in the trailers. Enough for a proxy to balance calls and a client to
/// tell which replica answered, with no protobuf compiler in the build.
public enum GRPCServerWorkload {
    /// `text` as one gRPC message: uncompressed flag, 4-byte big-endian length, the bytes.
    public static func message(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(text.utf8.count))
        buffer.writeString(text)
        return buffer
    }

    /// The text of the first whole message in `body`, or nil when it holds none (or a
    /// compressed one, which these workloads never send).
    public static func firstMessage(in body: ByteBuffer) -> String? {
        var body = body
        guard let flag = body.readInteger(as: UInt8.self), flag == 0, let length = body.readInteger(as: UInt32.self),
            let text = body.readString(length: Int(length))
        else { return nil }
        return text
    }

    /// Listens on `port`; `accepted` is told of each connection (tests count them).
    public static func start(on host: any Host, port: UInt16, podName: String, accepted: @escaping @Sendable () -> Void = {}) {
        host.listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: port))) { channel in
            accepted()
            return channel.eventLoop.makeCompletedFuture {
                _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                    mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()
                ) { stream in
                    stream.eventLoop.makeCompletedFuture {
                        try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                        try stream.pipeline.syncOperations.addHandler(Responder(podName: podName))
                    }
                }
            }
        }.whenFailure { host.logger.error("grpc server \(podName) cannot listen on port \(port): \($0)") }
    }

    /// Answers a call once its request has ended.
    final class Responder: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let podName: String
        init(podName: String) { self.podName = podName }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            let head = HTTPResponseHead(version: .http2, status: .ok, headers: HTTPHeaders([("content-type", "application/grpc")]))
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(GRPCServerWorkload.message(podName)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(HTTPHeaders([("grpc-status", "0")]))), promise: nil)
        }
    }
}
