import Mesh
import NIOCore
import NIOHTTP1

/// Hands each complete request (head and body) to the test API server, which answers on the
/// channel itself (a watch keeps writing long after the request ended).
final class KubernetesTestAPIRequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart

    /// A larger body is refused: no object this server stores comes near it.
    static let maximumBodyLength = 1 << 20

    private let server: KubernetesTestAPIServer
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(server: KubernetesTestAPIServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            guard body.count + buffer.readableBytes <= Self.maximumBodyLength else {
                head = nil
                context.close(promise: nil)
                return
            }
            body += buffer.readableBytesView
        case .end:
            if let head { server.handle(head, body: body, on: context.channel) }
            head = nil
            body = []
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A malformed request or a reset: drop the connection, the server keeps running.
        context.close(promise: nil)
    }
}
