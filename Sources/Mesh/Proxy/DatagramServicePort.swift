import NIOCore

/// The proxy's UDP socket for one service port. The kernel redirects datagrams sent to the
/// service here; each client (address and port) gets a `DatagramSession` with a backend of
/// its own, and the backend's replies go back out of this socket, which the kernel rewrites
/// so they seem to come from the service address.
///
/// A socket per service port, because a redirected datagram carries no original destination
/// that can be read back (SO_ORIGINAL_DST works for TCP only).
final class DatagramServicePort: @unchecked Sendable {
    let address: ProxiedAddress
    private unowned let proxy: ServiceProxy
    private var channel: Channel?
    private var sessions: [SocketAddress: DatagramSession] = [:]

    private init(proxy: ServiceProxy, address: ProxiedAddress) {
        self.proxy = proxy
        self.address = address
    }

    static func open(proxy: ServiceProxy, address: ProxiedAddress) -> EventLoopFuture<DatagramServicePort> {
        let port = DatagramServicePort(proxy: proxy, address: address)
        let options = DatagramBindOptions(address: proxy.configuration.listenAddress.socketAddress(port: 0))
        return proxy.host.bindDatagram(options) { channel in
            channel.pipeline.addHandler(DatagramClientHandler(port: port))
        }.map { channel in
            port.channel = channel
            return port
        }
    }

    var localPort: UInt16? { channel?.localAddress?.port.map(UInt16.init) }

    var sessionCount: Int { sessions.count }

    /// A datagram from `client` to the service.
    func received(_ payload: ByteBuffer, from client: SocketAddress) {
        if let session = sessions[client] {
            session.send(payload)
            return
        }
        guard sessions.count < proxy.configuration.maximumDatagramSessionsPerPort, let route = proxy.route(to: address) else {
            proxy.statistics.datagramsDropped += 1
            return
        }
        let backends = proxy.backends(for: route)
        var random = proxy.host.random
        let selector = proxy.selector(for: route)
        let request = RequestAttributes(clientAddress: client.ipv4Address)
        guard !backends.isEmpty,
            let choice = selector.choose(
                among: backends, for: request, excluding: [], at: proxy.host.now, random: &random,
                generatedCookieValue: "")
        else {
            proxy.statistics.datagramsDropped += 1
            proxy.logger.debug("datagram to \(address) dropped: \(ServiceProxyError.noBackends(route))")
            return
        }
        selector.connectionOpened(to: choice.backend, for: request, at: proxy.host.now)
        let session = DatagramSession(
            port: self, client: client, backend: choice.backend, dialer: proxy.dialer,
            idleTimeout: proxy.configuration.datagramSessionIdleTimeout,
            queueLimit: proxy.configuration.datagramSessionQueueLimit)
        session.onOpen = { [unowned proxy] channel in
            proxy.noteFlow(to: choice.backend, over: channel, route: route, transport: .udp, client: client)
        }
        session.onClose = { [weak self, weak selector] in
            selector?.connectionClosed(to: choice.backend)
            self?.sessions[client] = nil
        }
        sessions[client] = session
        proxy.statistics.datagramSessionsOpened += 1
        session.open()
        session.send(payload)
    }

    /// A datagram from a session's backend, back to its client.
    func reply(_ payload: ByteBuffer, to client: SocketAddress) {
        channel?.writeAndFlush(AddressedEnvelope(remoteAddress: client, data: payload), promise: nil)
    }

    func dropped() {
        proxy.statistics.datagramsDropped += 1
    }

    /// Ends sessions whose backend left the service: unlike a TCP connection, a UDP flow to a
    /// removed backend would go on sending into the void.
    func backendsChanged(to backends: [ServiceBackend]) {
        let current = Set(backends)
        for client in sessions.keys.sorted(by: { "\($0)" < "\($1)" }) where !current.contains(sessions[client]!.backend) {
            sessions[client]?.close()
        }
    }

    func close(promise: EventLoopPromise<Void>?) {
        for client in sessions.keys.sorted(by: { "\($0)" < "\($1)" }) { sessions[client]?.close() }
        if let channel {
            channel.close(promise: promise)
        } else {
            promise?.succeed()
        }
        channel = nil
    }

    func close() -> EventLoopFuture<Void> {
        let promise = proxy.host.eventLoop.makePromise(of: Void.self)
        close(promise: promise)
        return promise.futureResult
    }
}

/// Hands each datagram that reaches a service port's socket to the port.
private final class DatagramClientHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private weak var port: DatagramServicePort?

    init(port: DatagramServicePort) {
        self.port = port
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        port?.received(envelope.data, from: envelope.remoteAddress)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // ICMP errors for one client must not close the socket every client shares.
    }
}
