import Mesh
import NIOCore
import NIOHTTP1
import NIOSSL

/// A pod that answers every HTTP/1.1 request with its own name, like the "hostname" images
/// EdgeMesh's examples use: the body tells the client which backend it reached. Given a TLS
/// context it serves HTTPS instead. Its `Answer` can make it a failing or slow replica.
public enum HTTPServerWorkload {
    /// How the pod answers: with what status, after how long.
    public struct Answer: Hashable, Sendable {
        public var status: Int
        /// Between the request's end and the response.
        public var delay: TimeAmount

        public init(status: Int = 200, delay: TimeAmount = .zero) {
            self.status = status
            self.delay = delay
        }
    }

    @discardableResult
    public static func start(
        on host: any Host, port: UInt16, podName: String, tls: NIOSSLContext? = nil, answer: Answer = .init()
    ) -> EventLoopFuture<Channel> {
        host.listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: port))) { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                try channel.pipeline.syncOperations.addHandler(PodNameResponder(podName: podName, answer: answer))
            }
        }
    }
}

/// Answers each request with the pod name, keeping the connection alive when the client does.
final class PodNameResponder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let podName: String
    private let answer: HTTPServerWorkload.Answer
    private var keepAlive = true

    init(podName: String, answer: HTTPServerWorkload.Answer = .init()) {
        self.podName = podName
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            keepAlive = request.isKeepAlive
        case .body:
            break
        case .end:
            guard answer.delay > .zero else { return respond(context: context) }
            context.eventLoop.scheduleTask(in: answer.delay) { [self] in
                if context.channel.isActive { respond(context: context) }
            }
        }
    }

    private func respond(context: ChannelHandlerContext) {
        var body = context.channel.allocator.buffer(capacity: podName.utf8.count)
        body.writeString(podName)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: answer.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
