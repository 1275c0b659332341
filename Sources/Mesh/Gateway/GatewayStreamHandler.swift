import NIOCore
import NIOTLS

/// Carries one connection of a gateway TCP or TLS passthrough port to the service its route
/// names, through the proxy (policy, retries, tunnel), then splices the two byte streams.
///
/// A TCP port's route is known when the connection opens. A passthrough port's depends on the
/// server name in the client's ClientHello: NIO's `SNIHandler`, in front of this handler, reads
/// it without consuming it and calls `serverNameRead`; once the backend is connected and this
/// handler replaced by the splice, the `SNIHandler` leaves and hands the ClientHello on, so the
/// backend ends TLS with the client itself. A client that sends no ClientHello within
/// `helloTimeout` is reset.
///
/// The client is not read before the splice except for the ClientHello (`autoRead` is off); a
/// connection that cannot be carried is reset, so the client sees a failure, not an empty answer.
final class GatewayStreamHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    enum Routing {
        /// By port alone (a TCP server).
        case byPort
        /// By the ClientHello's server name, which must come within the timeout.
        case byServerName(helloTimeout: TimeAmount)
    }

    private let gateway: IngressGateway
    private let port: UInt16
    private let routing: Routing
    private var context: ChannelHandlerContext?
    private var started = false
    private var helloDeadline: Scheduled<Void>?

    init(gateway: IngressGateway, port: UInt16, routing: Routing = .byPort) {
        self.gateway = gateway
        self.port = port
        self.routing = routing
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        helloDeadline?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        guard !started else { return }
        started = true
        switch routing {
        case .byPort:
            carry(over: gateway.streamRoute(onPort: port))
        case .byServerName(let timeout):
            helloDeadline = context.eventLoop.scheduleTask(in: timeout) { [weak self] in
                self?.refuse(GatewayProblem("no TLS ClientHello within \(timeout)"))
            }
            context.read()
        }
    }

    /// More of the ClientHello is wanted until the `SNIHandler` has read the name.
    func channelReadComplete(context: ChannelHandlerContext) {
        if case .byServerName = routing, helloDeadline != nil { context.read() }
        context.fireChannelReadComplete()
    }

    /// The `SNIHandler`'s callback: the route the server name chooses, carried; the future
    /// succeeds once the splice is in place (the `SNIHandler` then hands on the ClientHello).
    func serverNameRead(_ result: SNIResult) -> EventLoopFuture<Void> {
        helloDeadline?.cancel()
        helloDeadline = nil
        guard let context else { return gateway.proxy.host.eventLoop.makeFailedFuture(GatewayProblem("the connection closed")) }
        var name: String?
        if case .hostname(let hostname) = result { name = hostname }
        let spliced = context.eventLoop.makePromise(of: Void.self)
        carry(over: gateway.passthroughRoute(onPort: port, serverName: name), spliced: spliced)
        return spliced.futureResult
    }

    private func carry(over found: Result<ProxyRoute, GatewayProblem>, spliced: EventLoopPromise<Void>? = nil) {
        guard let context else { return }
        let route: ProxyRoute
        switch found {
        case .success(let chosen): route = chosen
        case .failure(let problem):
            refuse(problem)
            spliced?.fail(problem)
            return
        }
        gateway.proxy.connectStream(for: route, client: context.channel).whenComplete { result in
            switch result {
            case .success(let backend):
                let client = context.channel
                guard self.splice(with: backend) else {
                    spliced?.fail(GatewayProblem("the client left"))
                    return
                }
                spliced?.succeed()
                // The SNIHandler hands the ClientHello on as it leaves, in a task it has just
                // queued, and a splice flushes on read-complete: one after it sends the hello.
                if spliced != nil { client.eventLoop.execute { client.pipeline.fireChannelReadComplete() } }
            case .failure(let error):
                self.refuse(error)
                spliced?.fail(error)
            }
        }
    }

    private func splice(with backend: ConnectedBackend) -> Bool {
        guard let context, context.channel.isActive else {
            backend.channel.close(promise: nil)
            return false
        }
        do {
            try ChannelSpliceHandler.replace(context, splicingTo: backend.channel)
            return true
        } catch {
            backend.channel.close(promise: nil)
            refuse(error)
            return false
        }
    }

    private func refuse(_ error: Error) {
        gateway.proxy.logger.debug("gateway port \(port): connection not carried: \(error)")
        if let context { gateway.proxy.host.resetStream(context.channel) }
    }
}
