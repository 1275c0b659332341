import Logging
import NIOCore

/// The tunnel's UDP socket, on the tunnel's port: datagram sessions' traffic (found by the
/// session index each datagram carries) and the LAN beacon's announcements share it, so one
/// UDP port is all a node exposes besides the tunnel's TCP port.
///
/// Relays' answers to the node's endpoint reflections (`ReflexiveEndpointProbe`) arrive here
/// too. Anything else, and anything that does not authenticate under the session it names (or
/// answer a reflection asked), is dropped and counted; no datagram is answered before it
/// authenticated, so the port tells a prober without the keys nothing. Confined to the host's event loop.
final class TunnelDatagramSocket: @unchecked Sendable {
    let host: any Host
    let port: UInt16
    let allocator = ByteBufferAllocator()
    private(set) var channel: Channel?
    private var sessions: [UInt32: TunnelDatagramSession] = [:]
    /// Takes the LAN beacon's announcements.
    var beaconReceiver: ((ByteBuffer, SocketAddress) -> Void)?
    /// Asks the relays where they see this port from, and takes their answers.
    var reflexiveProbe: ReflexiveEndpointProbe?
    private var unflushed = false
    static let vectorReadCount = 32
    /// Datagrams dropped: unknown session, failed authentication, or not ours at all.
    var rejected: UInt64 = 0

    init(host: any Host, port: UInt16) {
        self.host = host
        self.port = port
    }

    var eventLoop: EventLoop { host.eventLoop }
    var logger: Logger { host.logger }

    /// Binds the port on every address (the beacon's broadcasts arrive there too).
    func start() -> EventLoopFuture<Channel> {
        let options = DatagramBindOptions(address: IPv4Address.any.socketAddress(port: port), reuseAddress: true)
        return host.bindDatagram(options) { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Reader(socket: self)) }
        }.flatMap { channel in
            // A burst of pod packets is read with one recvmmsg, not a recvmsg each.
            channel.setOption(ChannelOptions.datagramVectorReadMessageCount, value: Self.vectorReadCount).map { channel }
        }.map { channel in
            self.channel = channel
            return channel
        }
    }

    func stop() {
        reflexiveProbe?.stop()
        for index in sessions.keys.sorted() { sessions[index]?.close() }
        channel?.close(promise: nil)
        channel = nil
    }

    /// A session for one connection, under an index no other session holds.
    func makeSession(
        transport: NoiseTransport, keepaliveInterval: TimeAmount, deadAfter: TimeAmount, deliver: @escaping (ByteBuffer) -> Void
    ) -> TunnelDatagramSession {
        var random = host.random
        var index = UInt32(truncatingIfNeeded: random.next())
        while index == 0 || sessions[index] != nil { index = UInt32(truncatingIfNeeded: random.next()) }
        let session = TunnelDatagramSession(
            localIndex: index, transport: transport, socket: self, keepaliveInterval: keepaliveInterval, deadAfter: deadAfter,
            deliver: deliver)
        sessions[index] = session
        return session
    }

    func forget(_ session: TunnelDatagramSession) {
        if sessions[session.localIndex] === session { sessions[session.localIndex] = nil }
    }

    /// Sends `datagram`; with `flush: false` it waits for `flushPending`, so a burst of pod
    /// packets read from the device in one go leaves in one `sendmmsg`.
    func send(_ datagram: ByteBuffer, to destination: TunnelEndpointAddress, flush: Bool = true) {
        guard let channel else { return }
        channel.write(AddressedEnvelope(remoteAddress: destination.socketAddress, data: datagram), promise: nil)
        if flush {
            channel.flush()
            unflushed = false
        } else {
            unflushed = true
        }
    }

    /// Sends what `send(_:to:flush: false)` left waiting.
    func flushPending() {
        guard unflushed else { return }
        unflushed = false
        channel?.flush()
    }

    fileprivate func receive(_ envelope: AddressedEnvelope<ByteBuffer>) {
        var datagram = envelope.data
        guard let type: UInt8 = datagram.getInteger(at: datagram.readerIndex) else { return }
        if type == TunnelDatagramSession.messageType {
            guard datagram.readableBytes >= TunnelDatagramSession.headerLength + NoiseTransport.frameOverhead,
                let source = TunnelEndpointAddress(envelope.remoteAddress)
            else {
                rejected += 1
                return
            }
            datagram.moveReaderIndex(forwardBy: 1)
            let index: UInt32 = datagram.readInteger()!
            guard let session = sessions[index] else {
                rejected += 1
                return
            }
            session.receive(datagram, from: source)
        } else if type == EndpointReflection.answerType {
            guard let source = TunnelEndpointAddress(envelope.remoteAddress), let reflexiveProbe,
                reflexiveProbe.receiveAnswer(datagram, from: source)
            else {
                rejected += 1
                return
            }
        } else if let beaconReceiver {
            beaconReceiver(datagram, envelope.remoteAddress)
        } else {
            rejected += 1
        }
    }

    private final class Reader: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        unowned let socket: TunnelDatagramSocket
        init(socket: TunnelDatagramSocket) { self.socket = socket }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            socket.receive(unwrapInboundIn(data))
        }
    }
}
