import Mesh
import NIOCore

/// One side of a hole punch: learns the other side's public endpoint from a rendezvous, then
/// sends to it from the same local port until a packet (UDP) or a connection (TCP, by
/// simultaneous open) from the other side gets through, or `timeout` passes. The log gets one
/// outcome: whether the hole opened, and how long it took.
public struct PunchPeerWorkload: Sendable {
    public enum Transport: String, Sendable {
        case udp, tcp
    }

    public var transport: Transport
    public var name: String
    public var peer: String
    public var rendezvous: HostPort
    public var localPort: UInt16
    public var startAt: NIODeadline
    public var timeout: TimeAmount

    /// How often registrations and punches are repeated while nothing has come back.
    static let retryInterval = TimeAmount.milliseconds(250)

    public init(
        transport: Transport, name: String, peer: String, rendezvous: HostPort, localPort: UInt16, startAt: NIODeadline,
        timeout: TimeAmount
    ) {
        self.transport = transport
        self.name = name
        self.peer = peer
        self.rendezvous = rendezvous
        self.localPort = localPort
        self.startAt = startAt
        self.timeout = timeout
    }

    public func start(on host: any Host, resolver: @escaping NameResolver, log: RequestLog) {
        guard log.attempted == 0, host.now <= startAt else { return }
        host.eventLoop.scheduleTask(deadline: startAt) {
            guard let address = resolver(rendezvous.host) else {
                log.record(RequestOutcome(startedAt: host.now, latency: .zero, succeeded: false, failure: "cannot resolve \(rendezvous.host)"))
                return
            }
            let attempt = PunchAttempt(
                host: host, configuration: self, rendezvous: address.socketAddress(port: rendezvous.port), log: log)
            switch transport {
            case .udp: attempt.punchUDP()
            case .tcp: attempt.punchTCP()
            }
        }
    }
}

/// The state of one punch while it runs. Confined to the host's loop.
final class PunchAttempt: @unchecked Sendable {
    private let host: any Host
    private let configuration: PunchPeerWorkload
    private let rendezvous: SocketAddress
    private let log: RequestLog
    private let started: NIODeadline
    private var finished = false
    private var peerAddress: SocketAddress?
    private var channels: [Channel] = []

    init(host: any Host, configuration: PunchPeerWorkload, rendezvous: SocketAddress, log: RequestLog) {
        self.host = host
        self.configuration = configuration
        self.rendezvous = rendezvous
        self.log = log
        self.started = host.now
        host.eventLoop.scheduleTask(in: configuration.timeout) { [self] in
            finish(nil, failure: peerAddress == nil ? "no answer from the rendezvous" : "no packet from the peer got through")
        }
    }

    private var local: SocketAddress { IPv4Address.any.socketAddress(port: configuration.localPort) }
    private var registration: String { "REGISTER \(configuration.name) \(configuration.peer)" }

    func finish(_ peer: SocketAddress?, failure: String? = nil) {
        guard !finished else { return }
        finished = true
        if let peer {
            host.logger.info("\(configuration.transport) hole punched to \(configuration.peer) at \(peer.ipAddress ?? "?"):\(peer.port ?? 0)")
        } else {
            host.logger.info("\(configuration.transport) punch to \(configuration.peer) failed: \(failure ?? "unknown")")
        }
        log.record(
            RequestOutcome(
                startedAt: started, latency: host.now - started, succeeded: peer != nil,
                backend: peer.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" }, failure: failure))
        // Let the last punches and hellos reach the other side before the sockets go.
        host.eventLoop.scheduleTask(in: .seconds(2)) { [self] in
            for channel in channels { channel.close(promise: nil) }
        }
    }

    // MARK: UDP

    func punchUDP() {
        host.bindDatagram(DatagramBindOptions(address: local, reuseAddress: true)) { channel in
            channel.pipeline.addHandler(PunchDatagramHandler(attempt: self))
        }.whenComplete { [self] result in
            switch result {
            case .success(let channel):
                channels.append(channel)
                repeatUDP(on: channel)
            case .failure(let error):
                finish(nil, failure: "\(error)")
            }
        }
    }

    private func repeatUDP(on channel: Channel) {
        guard !finished else { return }
        if let peerAddress {
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: peerAddress, data: ByteBuffer(string: "PUNCH \(configuration.name)")), promise: nil)
        } else {
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: rendezvous, data: ByteBuffer(string: registration)), promise: nil)
        }
        host.eventLoop.scheduleTask(in: PunchPeerWorkload.retryInterval) { [self] in repeatUDP(on: channel) }
    }

    func received(datagram text: String, from sender: SocketAddress, on channel: Channel) {
        if text.hasPrefix("PEER "), peerAddress == nil {
            peerAddress = Self.parseEndpoint(text.dropFirst(5))
        } else if text.hasPrefix("PUNCH ") {
            // Answer at once: the sender's mapping toward us is fresh now.
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: sender, data: ByteBuffer(string: "PUNCH \(configuration.name)")), promise: nil)
            finish(sender)
        }
    }

    // MARK: TCP

    func punchTCP() {
        let options = StreamListenOptions(address: local, reuseAddress: true)
        host.listenStream(options) { [self] channel in
            channel.pipeline.addHandler(LineFramer()).flatMap {
                channel.pipeline.addHandler(PunchStreamHandler(attempt: self, greets: true))
            }
        }.whenComplete { [self] result in
            switch result {
            case .success(let listener):
                channels.append(listener)
                registerOverTCP()
            case .failure(let error):
                finish(nil, failure: "\(error)")
            }
        }
    }

    private func registerOverTCP() {
        guard !finished, peerAddress == nil else { return }
        host.connectStream(
            StreamConnectOptions(remote: rendezvous, local: local, reuseAddress: true, connectTimeout: .seconds(2))
        ) { [self] channel in
            channel.pipeline.addHandler(LineFramer()).flatMap {
                channel.pipeline.addHandler(PunchStreamHandler(attempt: self, greets: false))
            }
        }.whenComplete { [self] result in
            switch result {
            case .success(let channel):
                channels.append(channel)
                channel.writeAndFlush(ByteBuffer(string: registration + "\n"), promise: nil)
            case .failure:
                host.eventLoop.scheduleTask(in: PunchPeerWorkload.retryInterval) { [self] in registerOverTCP() }
            }
        }
    }

    func received(line: String, on channel: Channel) {
        if line.hasPrefix("PEER "), peerAddress == nil, let peer = Self.parseEndpoint(line.dropFirst(5)) {
            peerAddress = peer
            connectToPeer(peer)
        } else if line.hasPrefix("HELLO "), let remote = channel.remoteAddress {
            finish(remote)
        }
    }

    /// Dials the peer from the punch port again and again: the first SYNs open our NAT, and
    /// once both NATs are open the SYNs cross and the connection forms (simultaneous open).
    private func connectToPeer(_ peer: SocketAddress) {
        guard !finished else { return }
        host.connectStream(
            StreamConnectOptions(remote: peer, local: local, reuseAddress: true, connectTimeout: .seconds(1))
        ) { [self] channel in
            channel.pipeline.addHandler(LineFramer()).flatMap {
                channel.pipeline.addHandler(PunchStreamHandler(attempt: self, greets: true))
            }
        }.whenComplete { [self] result in
            switch result {
            case .success(let channel):
                channels.append(channel)
            case .failure:
                host.eventLoop.scheduleTask(in: PunchPeerWorkload.retryInterval) { [self] in connectToPeer(peer) }
            }
        }
    }

    func greeting() -> ByteBuffer {
        ByteBuffer(string: "HELLO \(configuration.name)\n")
    }

    static func parseEndpoint(_ text: Substring) -> SocketAddress? {
        guard let line = text.split(separator: "\n").first, let target = HostPort(String(line)), let address = IPv4Address(target.host) else { return nil }
        return address.socketAddress(port: target.port)
    }
}

final class PunchDatagramHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let attempt: PunchAttempt

    init(attempt: PunchAttempt) {
        self.attempt = attempt
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        attempt.received(datagram: String(buffer: envelope.data), from: envelope.remoteAddress, on: context.channel)
    }
}

final class PunchStreamHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = String

    private let attempt: PunchAttempt
    /// Connections to (or from) the peer say hello as soon as they are up.
    private let greets: Bool

    init(attempt: PunchAttempt, greets: Bool) {
        self.attempt = attempt
        self.greets = greets
    }

    func channelActive(context: ChannelHandlerContext) {
        if greets { context.writeAndFlush(NIOAny(attempt.greeting()), promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        attempt.received(line: unwrapInboundIn(data), on: context.channel)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
