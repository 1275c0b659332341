import NIOCore

/// Joins a UDP tunnel stream to a datagram socket on the far agent: every buffer read from the
/// stream is sent to the target as one datagram, and every datagram from the target (and only
/// from it) goes back as one buffer. A flow idle for `idleTimeout` is closed, as NAT tables and
/// kube-proxy's UDP conntrack entries are, so abandoned flows do not hold sockets for ever. A
/// datagram for a stream that cannot take more (its window full, the peer not reading) is
/// dropped and counted, as a congested network drops it, rather than queued without bound.
final class TunnelDatagramBridge: @unchecked Sendable {
    static let idleTimeout = TimeAmount.seconds(180)

    let target: SocketAddress
    private let drops: TunnelDatagramDrops
    private var socket: Channel?
    private var stream: Channel?
    private var lastActivity: NIODeadline
    private var idleCheck: RepeatedTask?

    init(target: SocketAddress, eventLoop: EventLoop, drops: TunnelDatagramDrops) {
        self.target = target
        self.drops = drops
        self.lastActivity = eventLoop.now
    }

    /// The handler for the datagram socket's pipeline.
    var socketHandler: SocketSide { SocketSide(bridge: self) }
    /// The handler for the stream's pipeline.
    var streamHandler: StreamSide { StreamSide(bridge: self) }

    func join(socket: Channel, stream: Channel) {
        self.socket = socket
        self.stream = stream
        idleCheck = socket.eventLoop.scheduleRepeatedTask(initialDelay: Self.idleTimeout, delay: .seconds(30)) {
            [weak self] _ in
            guard let self, socket.eventLoop.now - self.lastActivity >= Self.idleTimeout else { return }
            self.closeBoth()
        }
    }

    private func closeBoth() {
        idleCheck?.cancel()
        idleCheck = nil
        socket?.close(promise: nil)
        stream?.close(promise: nil)
        socket = nil
        stream = nil
    }

    final class SocketSide: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let bridge: TunnelDatagramBridge
        init(bridge: TunnelDatagramBridge) { self.bridge = bridge }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            // Only the target's answers belong to this flow.
            guard envelope.remoteAddress == bridge.target, let stream = bridge.stream else { return }
            bridge.lastActivity = context.eventLoop.now
            guard stream.isWritable else {
                bridge.drops.record()
                return
            }
            stream.writeAndFlush(envelope.data, promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            bridge.closeBoth()
        }
    }

    final class StreamSide: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let bridge: TunnelDatagramBridge
        init(bridge: TunnelDatagramBridge) { self.bridge = bridge }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard let socket = bridge.socket else { return }
            bridge.lastActivity = context.eventLoop.now
            socket.writeAndFlush(AddressedEnvelope(remoteAddress: bridge.target, data: unwrapInboundIn(data)), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            bridge.closeBoth()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            bridge.closeBoth()
        }
    }
}
