import NIOCore
import NIOHTTP1

/// Hands each complete request to the test API server, which answers on the channel itself
/// (a watch keeps writing long after the request ended).
final class KubernetesTestAPIRequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart

    private let server: KubernetesTestAPIServer
    private var head: HTTPRequestHead?

    init(server: KubernetesTestAPIServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break  // GET only; bodies are ignored
        case .end:
            if let head { server.handle(head, on: context.channel) }
            head = nil
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A malformed request or a reset: drop the connection, the server keeps running.
        context.close(promise: nil)
    }
}
