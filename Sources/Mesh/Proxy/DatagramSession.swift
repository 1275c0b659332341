import NIOCore

/// One client's UDP flow through a service port: its own socket (or tunnel stream) to the one
/// backend chosen when the flow began, closed after `idleTimeout` without a datagram either
/// way. Each datagram is written as one datagram; nothing is split or merged.
final class DatagramSession: @unchecked Sendable {
    let client: SocketAddress
    let backend: ServiceBackend
    var onClose: (() -> Void)?
    /// Called with the backend socket or tunnel stream once it is open.
    var onOpen: ((Channel) -> Void)?

    private enum State {
        case opening(queued: [ByteBuffer])
        /// `viaTunnel`: the channel carries bare `ByteBuffer` datagrams instead of envelopes.
        case open(Channel, viaTunnel: Bool)
        case closed
    }

    private weak var port: DatagramServicePort?
    private let dialer: BackendDialer
    private let idleTimeout: TimeAmount
    private let queueLimit: Int
    private var state = State.opening(queued: [])
    private var lastActivity: NIODeadline
    private var idleCheck: Scheduled<Void>?

    init(
        port: DatagramServicePort, client: SocketAddress, backend: ServiceBackend, dialer: BackendDialer,
        idleTimeout: TimeAmount, queueLimit: Int
    ) {
        self.port = port
        self.client = client
        self.backend = backend
        self.dialer = dialer
        self.idleTimeout = idleTimeout
        self.queueLimit = queueLimit
        self.lastActivity = dialer.host.now
    }

    func open() {
        scheduleIdleCheck(at: lastActivity + idleTimeout)
        let opened: EventLoopFuture<(Channel, Bool)>
        if let tunnel = dialer.tunnel, dialer.usesTunnel(backend), let node = backend.nodeName {
            let target = TunnelTarget(node: node, address: backend.address, port: backend.port, transport: .udp)
            opened = tunnel.openStream(to: target, on: dialer.host.eventLoop).flatMap { channel in
                channel.pipeline.addHandler(TunnelDatagramReplyHandler(session: self)).map { (channel, true) }
            }
        } else {
            let backendAddress = backend.address.socketAddress(port: backend.port)
            let options = DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 0))
            opened = dialer.host.bindDatagram(options) { channel in
                channel.pipeline.addHandler(DatagramReplyHandler(session: self, backend: backendAddress))
            }.map { ($0, false) }
        }
        opened.whenComplete { result in
            switch (result, self.state) {
            case (.success(let (channel, viaTunnel)), .opening(let queued)):
                self.state = .open(channel, viaTunnel: viaTunnel)
                self.onOpen?(channel)
                channel.closeFuture.whenComplete { _ in self.close() }
                for payload in queued { self.write(payload, to: channel, viaTunnel: viaTunnel) }
                channel.flush()
            case (.success(let (channel, _)), _):
                channel.close(promise: nil)
            case (.failure(let error), _):
                self.port?.dropped()
                self.dialer.host.logger.debug("udp session \(self.client) -> \(self.backend) failed: \(error)")
                self.close()
            }
        }
    }

    /// A datagram from the client to the backend.
    func send(_ payload: ByteBuffer) {
        lastActivity = dialer.host.now
        switch state {
        case .opening(var queued):
            guard queued.count < queueLimit else {
                port?.dropped()
                return
            }
            queued.append(payload)
            state = .opening(queued: queued)
        case .open(let channel, let viaTunnel):
            write(payload, to: channel, viaTunnel: viaTunnel)
            channel.flush()
        case .closed:
            port?.dropped()
        }
    }

    /// A datagram from the backend to the client.
    func backendReplied(_ payload: ByteBuffer) {
        guard case .open = state else { return }
        lastActivity = dialer.host.now
        port?.reply(payload, to: client)
    }

    func close() {
        if case .closed = state { return }
        let previous = state
        state = .closed
        idleCheck?.cancel()
        idleCheck = nil
        if case .open(let channel, _) = previous { channel.close(promise: nil) }
        onClose?()
        onClose = nil
    }

    private func write(_ payload: ByteBuffer, to channel: Channel, viaTunnel: Bool) {
        if viaTunnel {
            channel.write(payload, promise: nil)
        } else {
            let envelope = AddressedEnvelope(remoteAddress: backend.address.socketAddress(port: backend.port), data: payload)
            channel.write(envelope, promise: nil)
        }
    }

    /// One timer per session rather than one per datagram: it re-arms from the last activity.
    private func scheduleIdleCheck(at deadline: NIODeadline) {
        idleCheck = dialer.host.eventLoop.scheduleTask(deadline: deadline) {
            let due = self.lastActivity + self.idleTimeout
            if due <= self.dialer.host.now {
                self.close()
            } else {
                self.scheduleIdleCheck(at: due)
            }
        }
    }
}

/// Passes datagrams from the session's backend (and only from it) back to the session.
private final class DatagramReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private weak var session: DatagramSession?
    private let backend: SocketAddress

    init(session: DatagramSession, backend: SocketAddress) {
        self.session = session
        self.backend = backend
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard envelope.remoteAddress == backend else { return }
        session?.backendReplied(envelope.data)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // An ICMP port-unreachable from a backend that went away; the idle timeout ends the session.
    }
}

/// Passes datagrams arriving on a tunnel stream back to the session.
private final class TunnelDatagramReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private weak var session: DatagramSession?

    init(session: DatagramSession) {
        self.session = session
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session?.backendReplied(unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
