import Logging
import NIOCore

/// One secure connection to a peer agent over a raw byte stream (direct, punched or relayed):
/// runs the gated Noise handshake, then seals and opens frames and hands them to the stream
/// multiplexer, and pings to measure RTT and keep NAT mappings alive.
///
/// It sits in the raw channel's pipeline after a `TunnelRecordDecoder`. Anything a peer sends
/// that breaks the protocol (a tampered frame, a bad length, a frame out of place) closes this
/// connection with a logged reason; it never crashes the agent. Confined to the channel's loop.
final class TunnelConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = TunnelRecord

    enum Role {
        /// We dialed, meaning to reach `node`, whose bound key is `key`.
        case initiator(node: String, key: [UInt8])
        case responder
    }

    private enum State {
        case awaitingInitiation
        case awaitingResponse(NoiseHandshake)
        case awaitingConfirmation(NoiseHandshake)
        /// The initiation failed the PSK gate: we say nothing and wait for the handshake timer.
        case silenced
        case established(NoiseTransport)
        case closed
    }

    let endpoint: TunnelEndpoint
    let role: Role
    let pathKind: PeerPathKind
    let channel: Channel
    private var state: State
    /// The node at the other end: known from the start when we dialed, after message 3 otherwise.
    private(set) var peerNode: String?
    private(set) var multiplexer: TunnelStreamMultiplexer!
    private let establishedPromise: EventLoopPromise<TunnelConnection>
    private let closedPromise: EventLoopPromise<Void>
    private var handshakeTimer: Scheduled<Void>?
    private var keepaliveTimer: RepeatedTask?
    private var lastReceived: NIODeadline
    private var outstandingPing: (nonce: UInt64, sentAt: NIODeadline)?
    private var nextPingNonce: UInt64 = 1
    /// Why the connection ended, once it has.
    private(set) var closeReason: String?

    private(set) var roundTripTime: TimeAmount?
    private(set) var streamBytesSent: UInt64 = 0
    private(set) var streamBytesReceived: UInt64 = 0
    /// Bytes on the wire to and from the peer on this connection: its stream's records and its
    /// datagram session's datagrams.
    var bytesSent: UInt64 { streamBytesSent + (datagramSession?.bytesSent ?? 0) }
    var bytesReceived: UInt64 { streamBytesReceived + (datagramSession?.bytesReceived ?? 0) }
    private(set) var packetsReceived: UInt64 = 0
    /// Pod packets as UDP datagrams on this connection's keys, when datagrams are on.
    private(set) var datagramSession: TunnelDatagramSession?

    /// Succeeds when the handshake completed; fails with `TunnelError` when it did not.
    var established: EventLoopFuture<TunnelConnection> { establishedPromise.futureResult }
    /// Succeeds the moment the connection fails or closes (before its channel has finished
    /// closing), so the peer stops handing it out at once.
    var closed: EventLoopFuture<Void> { closedPromise.futureResult }
    var isEstablished: Bool {
        if case .established = state { return true }
        return false
    }
    var logger: Logger { endpoint.host.logger }

    init(endpoint: TunnelEndpoint, role: Role, pathKind: PeerPathKind, channel: Channel) {
        self.endpoint = endpoint
        self.role = role
        self.pathKind = pathKind
        self.channel = channel
        self.establishedPromise = channel.eventLoop.makePromise()
        self.closedPromise = channel.eventLoop.makePromise()
        self.lastReceived = channel.eventLoop.now
        switch role {
        case .initiator(let node, _):
            self.peerNode = node
            self.state = .awaitingInitiation  // replaced as soon as the handler is added
        case .responder:
            self.state = .awaitingInitiation
        }
    }

    /// Adds the record decoder and this handler to `channel`.
    static func install(
        on channel: Channel, endpoint: TunnelEndpoint, role: Role, pathKind: PeerPathKind
    ) -> TunnelConnection {
        let connection = TunnelConnection(endpoint: endpoint, role: role, pathKind: pathKind, channel: channel)
        do {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(TunnelRecordDecoder()))
            try channel.pipeline.syncOperations.addHandler(connection)
        } catch {
            connection.fail("could not set up the connection's pipeline: \(error)")
        }
        return connection
    }

    // MARK: ChannelHandler

    func handlerAdded(context: ChannelHandlerContext) {
        handshakeTimer = context.eventLoop.scheduleTask(in: endpoint.configuration.handshakeTimeout) { [self] in
            guard !isEstablished else { return }
            let what: String = switch state {
            case .silenced: "an initiation that failed the pre-shared key check was ignored"
            case .awaitingResponse:
                "the peer gave no answer in \(Self.text(endpoint.configuration.handshakeTimeout)) (it has a different pre-shared key, or holds a different key than its Node annotation says)"
            default: "the handshake did not complete in \(Self.text(endpoint.configuration.handshakeTimeout))"
            }
            fail(what, reset: true)
        }
        if case .initiator(let node, let key) = role {
            startHandshake(node: node, key: key)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let record = unwrapInboundIn(data)
        streamBytesReceived += UInt64(record.body.readableBytes + 3)
        lastReceived = context.eventLoop.now
        do {
            try receive(record)
        } catch {
            fail("\(error)")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(closeReason ?? (isEstablished ? "the peer closed the connection" : "the peer closed the connection during the handshake"))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail("\(error)")
    }

    // MARK: Handshake

    private func startHandshake(node: String, key: [UInt8]) {
        do {
            var random = endpoint.host.random
            var handshake = try NoiseHandshake(
                role: .initiator, staticKey: endpoint.identity.keyPair,
                presharedKey: endpoint.configuration.presharedKey.bytes, prologue: TunnelEndpoint.prologue,
                random: &random, peerKeyValidator: { $0 == key })
            let message1 = try handshake.writeMessage(payload: [])
            let gate = HandshakeInitiationGate(presharedKey: endpoint.configuration.presharedKey, responderStaticKey: key)
            let body = gate.seal(message1: message1, timestamp: endpoint.host.wallClock.nanosecondsSinceEpoch)
            state = .awaitingResponse(handshake)
            write(.initiation, body)
            channel.flush()
        } catch {
            fail("could not start the handshake: \(error)")
        }
    }

    private func receive(_ record: TunnelRecord) throws {
        if case .established(var transport) = state, record.type == .transport {
            // The state gives up its copy while the frame opens, so the replay window is
            // changed in place rather than copied for every record.
            state = .closed
            var plaintext = channel.allocator.buffer(capacity: record.body.readableBytes)
            do {
                try record.body.withUnsafeReadableBytes { try transport.open($0, appendingTo: &plaintext) }
            } catch {
                state = .established(transport)
                throw error
            }
            state = .established(transport)
            return try multiplexer.receive(try TunnelFrame.decode(plaintext))
        }
        // A handshake record (a transport record while established is opened above).
        let body = Array(record.body.readableBytesView)
        switch (state, record.type) {
        case (.awaitingInitiation, .initiation) where isResponder:
            try receiveInitiation(body)
        case (.awaitingResponse(var handshake), .response):
            do {
                _ = try handshake.readMessage(body)
            } catch NoiseError.peerKeyRejected(let key) {
                throw TunnelError.handshakeFailed(node: peerNode ?? "?", reason: "the peer answered with key \(TunnelPublicKeyText.encode(key)), not the key bound to the node (a different node answers at that address, or its key changed and its Node annotation is stale)")
            }
            let message3 = try handshake.writeMessage(payload: Array(endpoint.nodeName.utf8))
            write(.confirmation, message3)
            channel.flush()
            try establish(handshake)
        case (.awaitingConfirmation(var handshake), .confirmation):
            let payload = try handshake.readMessage(body)
            let claimed = String(decoding: payload, as: UTF8.self)
            let presented = handshake.remoteStaticKey ?? []
            guard claimed != endpoint.nodeName else { throw TunnelHandshakeRejection.claimsOurName(claimed) }
            guard let bound = endpoint.keys.publicKey(ofNode: claimed), bound == presented else {
                throw TunnelHandshakeRejection.keyNotBound(node: claimed, presented: presented)
            }
            peerNode = claimed
            try establish(handshake)
        case (.silenced, _):
            break
        default:
            throw TunnelProtocolError.unexpectedRecord("a \(record.type) record is not expected \(stateName)")
        }
    }

    private func receiveInitiation(_ body: [UInt8]) throws {
        let opened: (timestamp: Int64, message1: [UInt8])
        do {
            opened = try endpoint.responderGate.open(body)
            try endpoint.admitInitiation(timestamp: opened.timestamp, mac: Array(body.suffix(HandshakeInitiationGate.macLength)))
        } catch {
            // No answer at all: a prober without the PSK cannot tell us from a black hole.
            logger.warning("tunnel: \(error)", metadata: ["from": "\(channel.remoteAddress.map { "\($0)" } ?? "?")"])
            state = .silenced
            // Stay silent for longer than any initiator waits, so the prober gives up first and
            // learns nothing, not even a close at a telling moment.
            handshakeTimer?.cancel()
            handshakeTimer = channel.eventLoop.scheduleTask(in: endpoint.configuration.handshakeTimeout * 6) { [self] in
                fail("closed a connection whose initiation was ignored")
            }
            return
        }
        var random = endpoint.host.random
        var handshake = try NoiseHandshake(
            role: .responder, staticKey: endpoint.identity.keyPair,
            presharedKey: endpoint.configuration.presharedKey.bytes, prologue: TunnelEndpoint.prologue,
            random: &random, peerKeyValidator: { _ in true })  // checked against the claimed name at message 3
        _ = try handshake.readMessage(opened.message1)
        let message2 = try handshake.writeMessage(payload: [])
        state = .awaitingConfirmation(handshake)
        write(.response, message2)
        channel.flush()
    }

    private func establish(_ handshake: NoiseHandshake) throws {
        state = .established(try handshake.split())
        if let socket = endpoint.datagramSocket {
            datagramSession = socket.makeSession(
                transport: try handshake.split(label: Self.datagramKeyLabel),
                keepaliveInterval: endpoint.configuration.keepaliveInterval, deadAfter: endpoint.configuration.deadAfter
            ) { [weak self] packet in self?.receivePacket(packet) }
        }
        handshakeTimer?.cancel()
        handshakeTimer = nil
        multiplexer = TunnelStreamMultiplexer(connection: self, opensOddStreams: !isResponder)
        keepaliveTimer = channel.eventLoop.scheduleRepeatedTask(
            initialDelay: endpoint.configuration.keepaliveInterval, delay: endpoint.configuration.keepaliveInterval
        ) { [weak self] _ in self?.keepalive() }
        logger.debug("tunnel: connection established", metadata: ["peer": "\(peerNode ?? "?")", "path": "\(pathKind)"])
        offerDatagrams()
        establishedPromise.succeed(self)
    }

    /// Tells the peer where this node's datagrams may be reached (again when that changed).
    func offerDatagrams() {
        guard let datagramSession, isEstablished else { return }
        send(.datagramOffer(index: datagramSession.localIndex, candidates: endpoint.datagramCandidates()))
        channel.flush()
    }

    /// The label the datagram session's keys are split from the handshake under.
    static let datagramKeyLabel = Array("edgemesh datagrams v1".utf8)

    /// The peer's datagram offer: its session index and endpoints, plus where this connection's
    /// bytes come from (a direct or punched connection's source is the peer's NAT mapping,
    /// which a NAT that preserves ports gives its UDP too).
    func receiveDatagramOffer(index: UInt32, candidates: [TunnelEndpointAddress]) {
        guard let datagramSession else { return }
        var observed: [TunnelEndpointAddress] = []
        if pathKind != .relayed, let remote = channel.remoteAddress.flatMap(TunnelEndpointAddress.init) {
            observed = [remote, TunnelEndpointAddress(remote.address, endpoint.configuration.port)]
        }
        datagramSession.receiveOffer(index: index, candidates: candidates, observed: observed)
    }

    private var isResponder: Bool { !isInitiator }

    /// Whether this side dialed the connection.
    var isInitiator: Bool {
        if case .initiator = role { return true }
        return false
    }

    private var stateName: String {
        switch state {
        case .awaitingInitiation: "before the initiation"
        case .awaitingResponse: "while waiting for handshake message 2"
        case .awaitingConfirmation: "while waiting for handshake message 3"
        case .silenced: "after an ignored initiation"
        case .established: "after the handshake"
        case .closed: "after close"
        }
    }

    // MARK: Keepalive

    private func keepalive() {
        guard isEstablished else { return }
        let now = channel.eventLoop.now
        let silent = now - lastReceived
        if silent >= endpoint.configuration.deadAfter {
            fail("no keepalive answer for \(Self.text(silent)) (the path is down or the peer stopped)", reset: true)
            return
        }
        let nonce = nextPingNonce
        nextPingNonce += 1
        outstandingPing = (nonce, now)
        send(.ping(nonce: nonce))
        channel.flush()
    }

    /// Called by the multiplexer for ping and pong frames.
    func receivePing(_ frame: TunnelFrame) {
        switch frame {
        case .ping(let nonce):
            send(.pong(nonce: nonce))
        case .pong(let nonce):
            if let outstanding = outstandingPing, outstanding.nonce == nonce {
                roundTripTime = channel.eventLoop.now - outstanding.sentAt
                outstandingPing = nil
            }
        default:
            break
        }
    }

    /// Called by the multiplexer for each pod-network packet the peer sent.
    func receivePacket(_ packet: ByteBuffer) {
        guard let peerNode else { return }
        packetsReceived += 1
        endpoint.packetReceiver?(peerNode, packet)
    }

    // MARK: Sending

    /// Seals `frame` and writes it (unflushed); the caller flushes.
    func send(_ frame: TunnelFrame) {
        guard case .established(var transport) = state else { return }
        var plaintext = channel.allocator.buffer(capacity: 16)
        frame.encode(into: &plaintext)
        do {
            var sealed = channel.allocator.buffer(capacity: NoiseTransport.frameOverhead + plaintext.readableBytes)
            try plaintext.withUnsafeReadableBytes { try transport.seal($0, appendingTo: &sealed) }
            state = .established(transport)
            write(.transport, sealed)
        } catch {
            fail("could not seal a frame: \(error)")
        }
    }

    func flush() {
        channel.flush()
    }

    /// The largest plaintext a transport record can carry.
    static let maxFramePlaintext = TunnelRecord.maxLength - 1 - NoiseTransport.frameOverhead
    /// The largest pod-network packet a frame carries (its 5-byte header taken off).
    static let maxPacket = maxFramePlaintext - 5

    private func write(_ type: TunnelRecord.RecordType, _ body: [UInt8]) {
        write(type, ByteBuffer(bytes: body))
    }

    private func write(_ type: TunnelRecord.RecordType, _ body: ByteBuffer) {
        let record = TunnelRecord(type: type, body: body).encode(allocator: channel.allocator)
        streamBytesSent += UInt64(record.readableBytes)
        channel.write(record, promise: nil)
    }

    // MARK: Closing

    /// Closes the connection because of `reason`; its streams fail with `connectionLost`.
    /// Closes the connection for `reason`. With `reset`, for a path that may be dead, it ends
    /// with an RST: a FIN that cannot get through is retransmitted for minutes and holds the
    /// 4-tuple, so a punch or relay link from the same fixed port could not be made again.
    func fail(_ reason: String, reset: Bool = false) {
        if case .closed = state { return }
        let wasEstablished = isEstablished
        state = .closed
        closeReason = reason
        handshakeTimer?.cancel()
        keepaliveTimer?.cancel()
        datagramSession?.close()
        let node = peerNode ?? "(unknown)"
        if wasEstablished {
            logger.info("tunnel: connection closed", metadata: ["peer": "\(node)", "path": "\(pathKind)", "reason": "\(reason)"])
            multiplexer.connectionLost(TunnelError.connectionLost(node: node, reason: reason))
        } else {
            logger.info("tunnel: handshake failed", metadata: ["peer": "\(node)", "path": "\(pathKind)", "reason": "\(reason)"])
            establishedPromise.fail(TunnelError.handshakeFailed(node: node, reason: reason))
        }
        if reset { endpoint.host.resetStream(channel) } else { channel.close(promise: nil) }
        closedPromise.succeed()
    }

    static func text(_ amount: TimeAmount) -> String {
        let milliseconds = amount.nanoseconds / 1_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
    }
}
