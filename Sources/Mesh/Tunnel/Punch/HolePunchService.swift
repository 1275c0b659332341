import NIOCore

/// Hole punching coordinated through the relays, on both sides of a punch.
///
/// The initiator sends its public endpoint and NAT mapping to the peer through a relay; the
/// peer answers with its own; the initiator measures that round trip, sends `sync`, and waits
/// half of it before connecting, so both sides' SYNs leave at about the same moment (the peer
/// connects as soon as `sync` arrives). Both dial from the port their relay control connections
/// use, where a listener also waits: the SYNs that cross make a simultaneous open, and a SYN
/// that finds the other side's listener makes an ordinary one. Punching is skipped where the
/// mappings make it impossible, and every failure says why.
///
/// Confined to the host's loop.
public final class HolePunchService: @unchecked Sendable {
    public let options: HolePunchOptions
    let host: any Host
    let client: RelayClient
    let acceptor: PeerStreamAcceptor
    private var listener: Channel?
    private var attempts: [RelayToken: HolePunchAttempt] = [:]
    /// The last punch failure per peer, for status.
    public private(set) var lastFailure: [String: HolePunchError] = [:]
    /// Rejoins punched peers while no relay is in reach.
    private(set) lazy var rejoin = PunchedPeerRejoin(service: self)

    public init(host: any Host, client: RelayClient, options: HolePunchOptions = .init(), acceptor: @escaping PeerStreamAcceptor) {
        self.host = host
        self.client = client
        self.options = options
        self.acceptor = acceptor
    }

    var localPort: UInt16 { client.configuration.localPort }

    /// Listens on the shared local port and takes punch requests from the relays.
    public func start() -> EventLoopFuture<Void> {
        client.signalHandler = { [weak self] node, payload in self?.received(payload, from: node) }
        let listen = StreamListenOptions(address: IPv4Address.any.socketAddress(port: localPort), reuseAddress: true)
        return host.listenStream(listen) { [weak self] channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    PreambleReader(length: PunchHello.length, timeout: self?.options.attemptLifetime ?? .zero) { context, bytes in
                        guard let self else { return context.close(promise: nil) }
                        if self.options.enabled, bytes == PunchedPeerRejoin.hello {
                            // A peer punched here before, rejoining without a relay: the handshake decides.
                            self.acceptor(context.channel, .holePunched)
                            return
                        }
                        guard let hello = PunchHello.decode(bytes), let attempt = self.attempts[hello.token], hello.role == attempt.role.peer
                        else {
                            context.close(promise: nil)
                            return
                        }
                        attempt.accepted(context.channel)
                    })
            }
        }.flatMap { [self] listener in
            self.listener = listener
            return options.enabled ? rejoin.start() : host.eventLoop.makeSucceededVoidFuture()
        }
    }

    public func stop() {
        rejoin.stop()
        listener?.close(promise: nil)
        for token in attempts.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            attempts[token]?.finish(.failure(.noAnswer(node: attempts[token]!.peer)))
        }
    }

    /// Our NAT as the relays see it now.
    public var natObservation: NATObservation {
        NATObservation(
            localAddresses: options.candidateAddresses.addresses(from: host.interfaces), localPort: localPort,
            observers: client.observations.map { .init(relay: $0.relay, observed: $0.observed) })
    }

    /// The dialer the tunnel uses for hole-punched paths.
    public var dialer: PeerPathDialer { HolePunchDialer(service: self) }

    /// The dialer that rejoins a punched peer while no relay is in reach; `connect` dials the
    /// tunnel to a node and `isConnected` says whether it has a connection to one.
    public func rejoinDialer(connect: @escaping (String) -> Void, isConnected: @escaping (String) -> Bool) -> PeerPathDialer {
        rejoin.connectTunnel = connect
        rejoin.isConnected = isConnected
        return PunchedPeerRejoinDialer(rejoin: rejoin, eventLoop: host.eventLoop)
    }

    // MARK: Initiator

    /// Punches a direct connection to `node`; the channel is a raw byte stream to its agent.
    public func punch(to node: String) -> EventLoopFuture<Channel> {
        // One punch per pair at a time: a second would dial from the same port into the same
        // peer and spoil the first (the peer's request can reach us just before our own timer
        // fires; the name order settles only requests that cross). What is under way carries it.
        if attempts.values.contains(where: { $0.peer == node }) {
            return host.eventLoop.makeFailedFuture(PathNotApplicable("a punch with \(node) is under way"))
        }
        let observation = natObservation
        guard let endpoint = observation.publicEndpoint else {
            return host.eventLoop.makeFailedFuture(HolePunchError.noObservedAddress)
        }
        let promise = host.eventLoop.makePromise(of: Channel.self)
        var random = host.random
        let attempt = HolePunchAttempt(
            token: .random(using: &random), peer: node, role: .initiator, localMapping: observation.mapping, service: self,
            onSuccess: { [self] channel in
                lastFailure[node] = nil
                rejoin.punched(node, on: channel)
                host.logger.info("hole punched to \(node) at \(channel.remoteAddress.map { "\($0)" } ?? "?")")
                promise.succeed(channel)
            },
            onFailure: { [self] error in
                if case .yieldedToPeer = error {
                    // The peer's own punch carries the connection: nothing failed, and the
                    // tunnel's path report leaves it out.
                    host.logger.debug("hole punch to \(node): \(error)")
                    promise.fail(PathNotApplicable("\(error)"))
                    return
                }
                lastFailure[node] = error
                host.logger.info("hole punch to \(node) failed: \(error)")
                promise.fail(error)
            })
        register(attempt)
        client.sendSignal(to: node, payload: PunchSignal.request(token: attempt.token, mapping: observation.mapping, endpoint: endpoint).encoded) {
            refusal in attempt.finish(.failure(.peerNotReachableThroughRelays(node: node, refusal)))
        }
        host.eventLoop.scheduleTask(in: options.answerTimeout) {
            if attempt.peerEndpoint == nil { attempt.finish(.failure(.noAnswer(node: node))) }
        }
        return promise.futureResult
    }

    // MARK: Signals

    private func received(_ payload: [UInt8], from node: String) {
        guard let signal = PunchSignal(decoding: payload) else {
            host.logger.notice("ignoring a malformed punch signal from \(node)")
            return
        }
        switch signal {
        case .request(let token, let mapping, let endpoint):
            respond(to: node, token: token, mapping: mapping, endpoint: endpoint)
        case .answer(let token, let mapping, let endpoint):
            guard let attempt = attempts[token], attempt.role == .initiator, attempt.peer == node, attempt.peerEndpoint == nil
            else { return }
            attempt.peerMapping = mapping
            attempt.peerEndpoint = endpoint
            if !attempt.localMapping.isPredictable && !mapping.isPredictable && attempt.localMapping != .unknown && mapping != .unknown {
                decline(node, token, "the initiator's NAT maps per destination too")
                attempt.finish(.failure(.mappingsForbidPunching(node: node, local: attempt.localMapping, peer: mapping)))
                return
            }
            let rtt = host.now - attempt.startedAt
            client.sendSignal(to: node, payload: PunchSignal.sync(token: token).encoded) { refusal in
                attempt.finish(.failure(.peerNotReachableThroughRelays(node: node, refusal)))
            }
            host.logger.debug("punch to \(node): relayed RTT \(rtt.nanoseconds / 1_000_000) ms; connecting to \(endpoint)")
            attempt.startConnecting(after: .nanoseconds(rtt.nanoseconds / 2))
        case .sync(let token):
            guard let attempt = attempts[token], attempt.role == .responder, attempt.peer == node else { return }
            attempt.startConnecting(after: .zero)
        case .decline(let token, let reason):
            guard let attempt = attempts[token], attempt.peer == node else { return }
            attempt.finish(.failure(.peerDeclined(node: node, reason: reason)))
        }
    }

    private func respond(to node: String, token: RelayToken, mapping peerMapping: NATMappingBehavior, endpoint: NodeEndpoint) {
        guard attempts[token] == nil else { return }
        guard options.enabled else {
            decline(node, token, "hole punching is turned off on this node (enableHolePunch: false); staying relayed")
            return
        }
        // Both ends asked at once (their upgrade timers fire together). Two punches would dial
        // from the same port into each other's and spoil both; the node whose name sorts first
        // keeps its own, the other answers it and drops its own.
        if let ours = attempts.values.first(where: { $0.peer == node && $0.role == .initiator }) {
            guard node < host.name else {
                decline(node, token, "a punch from this node to it is already under way")
                return
            }
            ours.finish(.failure(.yieldedToPeer(node: node)))
        }
        let fromPeer = attempts.values.filter { $0.peer == node && $0.role == .responder }.count
        guard fromPeer < options.maximumAttemptsPerPeer, attempts.count < options.maximumConcurrentAttempts else {
            declinedRequests += 1
            decline(node, token, fromPeer >= options.maximumAttemptsPerPeer
                ? "\(fromPeer) punches from this node are already under way here"
                : "\(attempts.count) punches are already under way here")
            return
        }
        let observation = natObservation
        guard let ours = observation.publicEndpoint else {
            decline(node, token, "no relay has reported its public endpoint yet")
            return
        }
        if observation.mapping == .endpointDependent && peerMapping == .endpointDependent {
            decline(node, token, "its NAT maps per destination, as does ours: neither side can aim at the other; punching cannot work; staying relayed")
            return
        }
        let attempt = HolePunchAttempt(
            token: token, peer: node, role: .responder, localMapping: observation.mapping, service: self,
            onSuccess: { [self] channel in
                rejoin.punched(node, on: channel)
                host.logger.info("hole punched from \(node) at \(channel.remoteAddress.map { "\($0)" } ?? "?")")
                acceptor(channel, .holePunched)
            },
            onFailure: { [self] error in host.logger.info("hole punch from \(node) failed: \(error)") })
        attempt.peerMapping = peerMapping
        attempt.peerEndpoint = endpoint
        register(attempt)
        client.sendSignal(to: node, payload: PunchSignal.answer(token: token, mapping: observation.mapping, endpoint: ours).encoded) {
            refusal in attempt.finish(.failure(.peerNotReachableThroughRelays(node: node, refusal)))
        }
    }

    private func decline(_ node: String, _ token: RelayToken, _ reason: String) {
        client.sendSignal(to: node, payload: PunchSignal.decline(token: token, reason: reason).encoded) { _ in }
    }

    private func register(_ attempt: HolePunchAttempt) {
        attempts[attempt.token] = attempt
        // Whatever happens, an attempt ends: answer, every round, and the select handshake.
        host.eventLoop.scheduleTask(in: options.attemptLifetime) {
            attempt.finish(.failure(.noConnectionGotThrough(
                node: attempt.peer, attempts: self.options.attempts, local: attempt.localMapping, peer: attempt.peerMapping)))
        }
    }

    /// Punch attempts under way (both roles).
    public var attemptsInProgress: Int { attempts.count }
    /// Punch requests declined because too many attempts were under way.
    public private(set) var declinedRequests = 0

    func attemptFinished(_ attempt: HolePunchAttempt) {
        attempts[attempt.token] = nil
    }
}

extension HolePunchService {
    /// The relay client's status with our NAT observation and punch failures filled in.
    public var status: RelayStatus {
        client.status(natObservation: natObservation, punchFailures: lastFailure)
    }
}
