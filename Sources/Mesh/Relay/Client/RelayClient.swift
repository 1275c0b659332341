import NIOCore

/// The agent's side of the relays: keeps a reservation on every configured relay (with fail-over
/// between them), opens relayed circuits to other nodes, takes circuits other nodes open to us,
/// and passes hole-punching signals through the relays.
///
/// Circuits are raw byte streams: the tunnel runs its end-to-end handshake on top, so a relay
/// carries only ciphertext. Confined to the host's event loop; call everything from it.
public final class RelayClient: @unchecked Sendable {
    /// A signal another node sent us through a relay.
    public typealias SignalHandler = (_ from: String, _ payload: [UInt8]) -> Void

    public let configuration: RelayClientConfiguration
    let host: any Host
    let staticKey: NoiseKeyPair
    private let acceptor: PeerStreamAcceptor
    private var links: [RelayLink] = []
    private var nextRequest: UInt32 = 1
    private var pendingCircuits: [UInt32: (link: RelayLink, node: String, promise: EventLoopPromise<Channel>)] = [:]
    private var pendingSignals: [UInt32: (node: String, payload: [UInt8], untried: [RelayLink], onRefused: (RelayRefusal) -> Void)] = [:]
    /// Who receives signals from other nodes (the hole-punching service).
    public var signalHandler: SignalHandler?
    /// Called whenever a relay's reservation comes or goes (observations change then).
    public var onLinkChange: (() -> Void)?

    public init(host: any Host, configuration: RelayClientConfiguration, staticKey: NoiseKeyPair, acceptor: @escaping PeerStreamAcceptor) {
        self.host = host
        self.configuration = configuration
        self.staticKey = staticKey
        self.acceptor = acceptor
        // One link per relay: two links to one relay would keep replacing each other's reservation.
        var seen: [SocketAddress] = []
        for relay in configuration.relays where !seen.contains(relay) { seen.append(relay) }
        self.links = seen.map { RelayLink(relay: $0, client: self) }
    }

    public func start() {
        for link in links { link.start() }
    }

    public func stop() {
        for link in links { link.stop() }
    }

    /// Each relay, in configured order, with where we stand with it.
    public var relayStates: [(relay: String, state: RelayLinkState)] { links.map { ($0.name, $0.state) } }

    /// What each reserved relay observed as our endpoint, in configured order.
    public var observations: [(relay: String, observed: NodeEndpoint)] {
        links.compactMap { link in link.observed.map { (link.name, $0) } }
    }

    /// Where this agent stands with its relays and its NAT, for `edgemesh status`.
    public func status(natObservation: NATObservation?, punchFailures: [String: HolePunchError]) -> RelayStatus {
        RelayStatus(
            relays: links.map { .init(relay: $0.name, state: $0.state, roundTripMilliseconds: $0.roundTripTime.map { $0.nanoseconds / 1_000_000 }) },
            natObservation: natObservation,
            punchFailures: punchFailures.keys.sorted().map { .init(node: $0, reason: "\(punchFailures[$0]!)") })
    }

    /// The dialer the tunnel uses for relayed paths.
    public var relayedDialer: PeerPathDialer { RelayedPathDialer(client: self) }

    // MARK: Circuits

    /// Opens a relayed circuit to `node`, trying each reserved relay in order.
    public func openCircuit(to node: String) -> EventLoopFuture<Channel> {
        let reserved = links.filter(\.isReserved)
        guard !reserved.isEmpty else {
            return host.eventLoop.makeFailedFuture(RelayError.noRelayReservation(relays: links.map(\.name)))
        }
        return openCircuit(to: node, through: reserved[...], reasons: [])
    }

    private func openCircuit(to node: String, through candidates: ArraySlice<RelayLink>, reasons: [String]) -> EventLoopFuture<Channel> {
        guard let link = candidates.first else {
            return host.eventLoop.makeFailedFuture(RelayError.noRelayReachedNode(node: node, reasons: reasons))
        }
        let promise = host.eventLoop.makePromise(of: Channel.self)
        let request = nextRequest
        nextRequest &+= 1
        pendingCircuits[request] = (link, node, promise)
        if !link.send(.openCircuit(request: request, node: node)) {
            pendingCircuits[request] = nil
            promise.fail(RelayError.relayConnectionLost(relay: link.name))
        }
        let timeout = host.eventLoop.scheduleTask(in: configuration.circuitTimeout) { [self] in
            if let pending = pendingCircuits.removeValue(forKey: request) {
                pending.promise.fail(RelayError.circuitTimedOut(relay: link.name, node: node))
            }
        }
        promise.futureResult.whenComplete { _ in timeout.cancel() }
        return promise.futureResult.flatMapError { [self] error in
            host.logger.info("relayed path to \(node) via \(link.name) failed: \(error)")
            return openCircuit(to: node, through: candidates.dropFirst(), reasons: reasons + ["\(error)"])
        }
    }

    // MARK: Signals

    /// Passes `payload` to `node` through the first relay that holds its reservation;
    /// `onRefused` hears the last relay's refusal when none does.
    public func sendSignal(to node: String, payload: [UInt8], onRefused: @escaping (RelayRefusal) -> Void) {
        sendSignal(to: node, payload: payload, untried: links.filter(\.isReserved)[...], onRefused: onRefused, lastRefusal: .noReservation(node: node))
    }

    private func sendSignal(
        to node: String, payload: [UInt8], untried: ArraySlice<RelayLink>, onRefused: @escaping (RelayRefusal) -> Void,
        lastRefusal: RelayRefusal
    ) {
        var untried = untried
        while let link = untried.popFirst() {
            let request = nextRequest
            nextRequest &+= 1
            if link.send(.signal(request: request, node: node, payload: payload)) {
                pendingSignals[request] = (node, payload, Array(untried), onRefused)
                // A signal that was passed on gets no acknowledgement; forget it after a while.
                host.eventLoop.scheduleTask(in: configuration.circuitTimeout) { [self] in pendingSignals[request] = nil }
                return
            }
        }
        onRefused(lastRefusal)
    }

    // MARK: From the links

    func received(_ message: RelayMessage, from link: RelayLink) {
        switch message {
        case .circuitOffer(let request, let token):
            guard let pending = pendingCircuits[request], pending.link === link else { return }
            openDataConnection(to: link, token: token).whenComplete { [self] result in
                guard let pending = pendingCircuits.removeValue(forKey: request) else {
                    if case .success(let channel) = result { channel.close(promise: nil) }
                    return
                }
                pending.promise.completeWith(result)
            }
        case .circuitRefused(let request, let refusal):
            guard let pending = pendingCircuits[request], pending.link === link else { return }
            pendingCircuits[request] = nil
            pending.promise.fail(RelayError.refused(relay: link.name, refusal))
        case .incomingCircuit(let token, let node):
            openDataConnection(to: link, token: token).whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    host.logger.info("relayed circuit from \(node) via \(link.name)")
                    acceptor(channel, .relayed)
                case .failure(let error):
                    host.logger.notice("relayed circuit from \(node) via \(link.name) failed: \(error)")
                }
            }
        case .signal(_, let node, let payload):
            signalHandler?(node, payload)
        case .signalRefused(let request, let refusal):
            guard let pending = pendingSignals.removeValue(forKey: request) else { return }
            sendSignal(to: pending.node, payload: pending.payload, untried: pending.untried[...], onRefused: pending.onRefused, lastRefusal: refusal)
        case .reservationAccepted, .reservationRefused, .ping, .pong, .openCircuit:
            break
        }
    }

    func linkChanged(_ link: RelayLink) {
        onLinkChange?()
    }

    /// Fails what was waiting on a relay that went away.
    func linkLost(_ link: RelayLink) {
        for request in pendingCircuits.keys.sorted() where pendingCircuits[request]?.link === link {
            pendingCircuits.removeValue(forKey: request)?.promise.fail(RelayError.relayConnectionLost(relay: link.name))
        }
    }

    /// A data connection to the relay presenting `token`; succeeds once the relay spliced it.
    private func openDataConnection(to link: RelayLink, token: RelayToken) -> EventLoopFuture<Channel> {
        let promise = host.eventLoop.makePromise(of: Channel.self)
        let settled = SettledFlag()
        let options = StreamConnectOptions(remote: link.relay, connectTimeout: configuration.connectTimeout)
        host.connectStream(options) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    PreambleReader(length: 1, timeout: self.configuration.circuitTimeout) { context, signal in
                        guard settled.settle() else { return }
                        if signal == [RelayConnectionKind.splicedSignal] {
                            promise.succeed(context.channel)
                        } else {
                            promise.fail(RelayProtocolError.unexpected("byte \(signal[0]) where the relay's spliced signal belongs"))
                            context.close(promise: nil)
                        }
                    })
            }
        }.whenComplete { result in
            switch result {
            case .success(let channel):
                channel.writeAndFlush(ByteBuffer(bytes: RelayConnectionKind.data.magic + token.bytes), promise: nil)
                channel.closeFuture.whenComplete { _ in
                    guard settled.settle() else { return }
                    promise.fail(RelayError.relayConnectionLost(relay: link.name))
                }
            case .failure(let error):
                guard settled.settle() else { return }
                promise.fail(error)
            }
        }
        return promise.futureResult
    }
}
