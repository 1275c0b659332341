import NIOCore

/// One end of a relay control connection: runs the PSK-gated Noise_XXpsk3 handshake, then
/// carries `RelayMessage`s, each sealed in one transport frame.
///
/// The node is the initiator and names itself in the third handshake message (encrypted, and
/// bound to its static key by the handshake); the relay is the responder. A responder that sees
/// a first message without a valid PSK gate, or anything it cannot authenticate, writes nothing
/// at all and closes the connection when the handshake deadline passes.
///
/// Confined to the channel's event loop.
final class RelayControlSession: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = [UInt8]
    typealias OutboundOut = ByteBuffer

    struct Callbacks {
        /// The handshake completed; `peerName` is the name the initiator claimed (`nil` on the
        /// initiator's side, which learns only the relay's key).
        var authenticated: (RelayControlSession, _ peerName: String?, _ peerKey: [UInt8]) -> Void
        var received: (RelayControlSession, RelayMessage) -> Void
        /// The connection is gone; `error` says why when it was not a clean close.
        var closed: (RelayControlSession, Error?) -> Void
    }

    private enum State {
        case handshaking(NoiseHandshake)
        case open(NoiseTransport)
        /// Input that failed the PSK gate or the handshake: ignored until the deadline closes us.
        case silenced
        case closed
    }

    static let prologue = Array("edgemesh relay control v1".utf8)

    private let role: NoiseHandshake.Role
    private let presharedKey: [UInt8]
    private let localName: String
    private let callbacks: Callbacks
    private let handshakeTimeout: TimeAmount
    private var state: State
    private var context: ChannelHandlerContext?
    private var closeError: Error?
    private var framesRead = 0

    init(
        role: NoiseHandshake.Role, staticKey: NoiseKeyPair, presharedKey: [UInt8], localName: String,
        random: MeshRandom, handshakeTimeout: TimeAmount, callbacks: Callbacks
    ) throws {
        var random = random
        self.role = role
        self.presharedKey = presharedKey
        self.localName = localName
        self.callbacks = callbacks
        self.handshakeTimeout = handshakeTimeout
        // Any key is acceptable to Noise here: the relay binds names to keys itself once it
        // knows the name, and the PSK already makes a stranger's handshake fail.
        self.state = .handshaking(
            try NoiseHandshake(
                role: role, staticKey: staticKey, presharedKey: presharedKey, prologue: Self.prologue, random: &random,
                peerKeyValidator: { _ in true }))
    }

    var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    var channel: Channel? { context?.channel }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        context.eventLoop.scheduleTask(in: handshakeTimeout) { [self] in
            if case .open = state { return }
            if case .closed = state { return }
            let milliseconds = handshakeTimeout.nanoseconds / 1_000_000
            fail(RelayProtocolError.handshakeFailed(
                role == .initiator
                    ? "the relay did not complete the handshake within \(milliseconds) ms; a relay stays silent toward a wrong PSK, so check that this node uses the cluster's PSK file"
                    : "no complete handshake within \(milliseconds) ms"))
        }
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private var started = false

    /// The initiator speaks first: magic, then message 1 behind its PSK gate.
    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        guard case .handshaking(var handshake) = state, handshake.role == .initiator else { return }
        do {
            let message = try handshake.writeMessage(payload: [])
            state = .handshaking(handshake)
            var buffer = context.channel.allocator.buffer(bytes: RelayConnectionKind.control.magic)
            var frame = try RelayFrameDecoder.frame(
                RelayPresharedGate.tag(for: message, presharedKey: presharedKey) + message, allocator: context.channel.allocator)
            buffer.writeBuffer(&frame)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        } catch {
            fail(error)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        framesRead += 1
        switch state {
        case .handshaking(var handshake):
            do {
                var message = frame
                if handshake.role == .responder && framesRead == 1 {
                    let tag = frame.prefix(RelayPresharedGate.tagLength)
                    message = Array(frame.dropFirst(RelayPresharedGate.tagLength))
                    guard RelayPresharedGate.isValid(tag: tag, for: message, presharedKey: presharedKey) else {
                        silence(RelayProtocolError.handshakeFailed("the first message does not prove the cluster PSK"))
                        return
                    }
                }
                let payload = try handshake.readMessage(message)
                if handshake.isOurTurnToWrite {
                    let name = handshake.role == .initiator ? Array(localName.utf8) : []
                    let reply = try handshake.writeMessage(payload: name)
                    context.writeAndFlush(wrapOutboundOut(try RelayFrameDecoder.frame(reply, allocator: context.channel.allocator)), promise: nil)
                }
                guard handshake.isComplete else {
                    state = .handshaking(handshake)
                    return
                }
                let transport = try handshake.split()
                state = .open(transport)
                var claimedName: String?
                if handshake.role == .responder {
                    guard let name = String(validating: payload, as: UTF8.self), !name.isEmpty,
                        name.utf8.count <= RelayMessage.maxNameLength
                    else {
                        fail(RelayProtocolError.handshakeFailed("the node did not name itself"))
                        return
                    }
                    claimedName = name
                }
                callbacks.authenticated(self, claimedName, transport.remoteStaticKey)
            } catch {
                // A responder stays silent toward a failed handshake; an initiator just gives up.
                if handshake.role == .responder { silence(error) } else { fail(error) }
            }
        case .open(var transport):
            do {
                let plaintext = try transport.open(frame)
                state = .open(transport)
                callbacks.received(self, try RelayMessage(decoding: plaintext))
            } catch {
                fail(error)
            }
        case .silenced, .closed:
            break
        }
    }

    /// Seals and sends `message`; `false` when the session is not (or no longer) open.
    @discardableResult
    func send(_ message: RelayMessage) -> Bool {
        guard case .open(var transport) = state, let context else { return false }
        do {
            let sealed = try transport.seal(message.encoded)
            state = .open(transport)
            context.writeAndFlush(wrapOutboundOut(try RelayFrameDecoder.frame(sealed, allocator: context.channel.allocator)), promise: nil)
            return true
        } catch {
            fail(error)
            return false
        }
    }

    func close() {
        context?.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .closed = state {} else {
            state = .closed
            callbacks.closed(self, closeError)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(error)
    }

    private func silence(_ error: Error) {
        closeError = error
        state = .silenced
    }

    private func fail(_ error: Error) {
        if closeError == nil { closeError = error }
        context?.close(promise: nil)
    }
}
