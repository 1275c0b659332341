import NIOCore

/// Carries one connection of a gateway TCP port to the service its VirtualService's `tcp` route
/// names, through the proxy (policy, retries, tunnel), then splices the two byte streams. The
/// client is not read before the splice (`autoRead` is off), so nothing needs replaying; a
/// connection that cannot be carried is reset, so the client sees a failure, not an empty answer.
final class GatewayStreamHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private let gateway: IngressGateway
    private let port: UInt16
    private var context: ChannelHandlerContext?
    private var started = false

    init(gateway: IngressGateway, port: UInt16) {
        self.gateway = gateway
        self.port = port
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        guard !started else { return }
        started = true
        let proxy = gateway.proxy
        let route: ProxyRoute
        switch gateway.streamRoute(onPort: port) {
        case .success(let found): route = found
        case .failure(let problem):
            refuse(problem)
            return
        }
        proxy.connectStream(for: route, client: context.channel).whenComplete { result in
            switch result {
            case .success(let backend): self.splice(with: backend)
            case .failure(let error): self.refuse(error)
            }
        }
    }

    private func splice(with backend: ConnectedBackend) {
        guard let context, context.channel.isActive else {
            backend.channel.close(promise: nil)
            return
        }
        do {
            try ChannelSpliceHandler.replace(context, splicingTo: backend.channel)
        } catch {
            backend.channel.close(promise: nil)
            refuse(error)
        }
    }

    private func refuse(_ error: Error) {
        gateway.proxy.logger.debug("gateway port \(port): connection not carried: \(error)")
        if let context { gateway.proxy.host.resetStream(context.channel) }
    }
}
