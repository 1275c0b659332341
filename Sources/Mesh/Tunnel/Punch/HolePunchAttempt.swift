import NIOCore

/// One punch between this node and a peer, on either side: the synchronised connects from the
/// shared local port, the hello check on every connection that forms (dialled or accepted), and
/// the choice of the one connection both sides keep.
///
/// Owned by `HolePunchService` on the host's loop.
final class HolePunchAttempt: @unchecked Sendable {
    let token: RelayToken
    let peer: String
    let role: PunchHello.Role
    let localMapping: NATMappingBehavior
    var peerMapping: NATMappingBehavior = .unknown
    var peerEndpoint: NodeEndpoint?
    /// When the request went out (initiator): the start of the RTT measurement.
    let startedAt: NIODeadline
    private(set) var isFinished = false
    private var roundsStarted = 0
    private var candidates: [Channel] = []
    private var chosen: Channel?
    private let service: HolePunchService
    private let onSuccess: (Channel) -> Void
    private let onFailure: (HolePunchError) -> Void

    init(
        token: RelayToken, peer: String, role: PunchHello.Role, localMapping: NATMappingBehavior, service: HolePunchService,
        onSuccess: @escaping (Channel) -> Void, onFailure: @escaping (HolePunchError) -> Void
    ) {
        self.token = token
        self.peer = peer
        self.role = role
        self.localMapping = localMapping
        self.service = service
        self.startedAt = service.host.now
        self.onSuccess = onSuccess
        self.onFailure = onFailure
    }

    private var host: any Host { service.host }
    private var options: HolePunchOptions { service.options }

    /// Starts the rounds of connects, the first after `delay`; the attempt fails when the last
    /// round is over without a kept connection.
    func startConnecting(after delay: TimeAmount) {
        host.eventLoop.scheduleTask(in: delay) { [self] in connectRound() }
    }

    private func connectRound() {
        guard !isFinished, chosen == nil, let peerEndpoint else { return }
        guard roundsStarted < options.attempts else {
            finish(.failure(.noConnectionGotThrough(node: peer, attempts: roundsStarted, local: localMapping, peer: peerMapping)))
            return
        }
        roundsStarted += 1
        let connectOptions = StreamConnectOptions(
            remote: peerEndpoint.socketAddress, local: IPv4Address.any.socketAddress(port: service.localPort),
            reuseAddress: true, connectTimeout: options.attemptTimeout)
        let hello = PunchHello.encode(token: token, role: role)
        host.connectStream(connectOptions) { [self] channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    PreambleReader(length: PunchHello.length, timeout: options.attemptLifetime) { [self] context, bytes in
                        guard let hello = PunchHello.decode(bytes), hello.token == self.token, hello.role == self.role.peer else {
                            context.close(promise: nil)
                            return
                        }
                        connected(context.channel)
                    })
            }
        }.whenComplete { [self] result in
            switch result {
            case .success(let channel):
                channel.writeAndFlush(ByteBuffer(bytes: hello), promise: nil)
                // The round is won once the hellos are through; a new round only if this dies first.
                channel.closeFuture.whenComplete { [self] _ in
                    if chosen == nil { host.eventLoop.execute { self.connectRound() } }
                }
            case .failure(let error):
                host.logger.debug("punch to \(peer) round \(roundsStarted): \(error)")
                if case HostError.addressInUse = error {
                    // The 4-tuple is taken: the peer's SYN got here first and the punch port's
                    // listener holds it half-open (as Linux does). That connection is about to be
                    // accepted, so wait a round for it instead of spending the rest at once.
                    host.eventLoop.scheduleTask(in: options.attemptTimeout) { [self] in connectRound() }
                } else {
                    connectRound()
                }
            }
        }
    }

    /// A connection the peer dialled to our punch port, whose hello named this attempt.
    func accepted(_ channel: Channel) {
        guard !isFinished else {
            channel.close(promise: nil)
            return
        }
        channel.writeAndFlush(ByteBuffer(bytes: PunchHello.encode(token: token, role: role)), promise: nil)
        connected(channel)
    }

    /// Both hellos are through on `channel`.
    private func connected(_ channel: Channel) {
        guard !isFinished else {
            channel.close(promise: nil)
            return
        }
        candidates.append(channel)
        switch role {
        case .initiator:
            guard chosen == nil else { return }
            chosen = channel
            try? channel.pipeline.syncOperations.addHandler(
                PreambleReader(length: 1, timeout: options.attemptLifetime) { [self] context, bytes in
                    guard bytes == [PunchHello.ack] else {
                        context.close(promise: nil)
                        return
                    }
                    finish(.success(context.channel))
                })
            channel.writeAndFlush(ByteBuffer(bytes: [PunchHello.select]), promise: nil)
        case .responder:
            try? channel.pipeline.syncOperations.addHandler(
                PreambleReader(length: 1, timeout: options.attemptLifetime) { [self] context, bytes in
                    guard bytes == [PunchHello.select], !isFinished else {
                        context.close(promise: nil)
                        return
                    }
                    context.writeAndFlush(NIOAny(ByteBuffer(bytes: [PunchHello.ack])), promise: nil)
                    finish(.success(context.channel))
                })
        }
    }

    /// Ends the attempt once: hands over the kept connection and closes the others.
    func finish(_ result: Result<Channel, HolePunchError>) {
        guard !isFinished else { return }
        isFinished = true
        service.attemptFinished(self)
        for candidate in candidates {
            if case .success(let kept) = result, kept === candidate { continue }
            candidate.close(promise: nil)
        }
        switch result {
        case .success(let channel): onSuccess(channel)
        case .failure(let error): onFailure(error)
        }
    }
}
