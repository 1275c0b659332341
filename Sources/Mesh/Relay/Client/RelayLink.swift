import NIOCore

/// An agent's standing connection to one relay: connects (from the agent's shared local port),
/// authenticates, holds the reservation, pings, and reconnects with capped, jittered backoff
/// whenever the connection fails or the relay stops answering.
///
/// Messages that concern circuits and signals go to `RelayClient`. Confined to the host's loop.
final class RelayLink: @unchecked Sendable {
    let relay: SocketAddress
    private(set) var state: RelayLinkState = .stopped
    private unowned let client: RelayClient
    private var session: RelayControlSession?
    /// Reconnections since the last reservation, which set the next wait.
    private var failedAttempts = 0
    private var lastHeard: NIODeadline = .uptimeNanoseconds(0)
    private var keepalive: RepeatedTask?
    private var reconnect: Scheduled<Void>?
    /// Gives up a connection whose reservation is not answered (the keepalive starts only with one).
    private var reservationTimeout: Scheduled<Void>?
    private var pingCounter: UInt64 = 0
    private var pingSentAt: NIODeadline?
    /// The round trip of the last answered keepalive.
    private(set) var roundTripTime: TimeAmount?
    /// Bumped on every new connection so callbacks from an old one are ignored.
    private var generation = 0

    init(relay: SocketAddress, client: RelayClient) {
        self.relay = relay
        self.client = client
    }

    var name: String { NodeEndpoint(relay)?.description ?? "\(relay)" }

    var observed: NodeEndpoint? {
        if case .reserved(let observed) = state { return observed }
        return nil
    }

    var isReserved: Bool { observed != nil }

    func start() {
        guard case .stopped = state else { return }
        connect()
    }

    func stop() {
        generation += 1
        state = .stopped
        reconnect?.cancel()
        keepalive?.cancel()
        reservationTimeout?.cancel()
        session?.close()
        session = nil
    }

    /// Sends on the control connection; `false` when there is no reservation.
    @discardableResult
    func send(_ message: RelayMessage) -> Bool {
        guard isReserved, let session else { return false }
        return session.send(message)
    }

    private func connect() {
        generation += 1
        let generation = self.generation
        state = .connecting
        let host = client.host
        let configuration = client.configuration
        // A relay that dies between our request and its answer sends neither an answer nor a
        // close: wait for the reservation no longer than a keepalive would wait for a pong.
        reservationTimeout?.cancel()
        reservationTimeout = host.eventLoop.scheduleTask(in: configuration.keepaliveTimeout) { [weak self] in
            guard let self, self.generation == generation, case .connecting = self.state else { return }
            self.failed("no answer to the reservation in \(configuration.keepaliveTimeout.nanoseconds / 1_000_000_000) s")
        }
        let session: RelayControlSession
        do {
            session = try RelayControlSession(
                role: .initiator, staticKey: client.staticKey, presharedKey: configuration.presharedKey, localName: host.name,
                random: host.random, handshakeTimeout: configuration.handshakeTimeout,
                callbacks: .init(
                    authenticated: { _, _, _ in },
                    received: { [weak self] _, message in
                        guard let self, self.generation == generation else { return }
                        self.received(message)
                    },
                    closed: { [weak self] _, error in
                        guard let self, self.generation == generation else { return }
                        self.failed(error.map { "\($0)" } ?? "the relay closed the connection")
                    }))
        } catch {
            failed("\(error)")
            return
        }
        self.session = session
        let options = StreamConnectOptions(
            remote: relay, local: IPv4Address.any.socketAddress(port: configuration.localPort), reuseAddress: true,
            connectTimeout: configuration.connectTimeout)
        host.connectStream(options) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RelayFrameDecoder()))
                try channel.pipeline.syncOperations.addHandler(session)
            }
        }.whenFailure { [weak self] error in
            guard let self, self.generation == generation else { return }
            self.failed("\(error)")
        }
    }

    private func received(_ message: RelayMessage) {
        lastHeard = client.host.now
        switch message {
        case .reservationAccepted(let observed, _):
            reservationTimeout?.cancel()
            state = .reserved(observed: observed)
            roundTripTime = nil
            failedAttempts = 0
            startKeepalive()
            client.host.logger.info("relay \(name): reserved; observed at \(observed)")
            client.linkChanged(self)
        case .reservationRefused(let refusal):
            client.host.logger.warning("relay \(name) refused our reservation: \(refusal)")
            failed("\(refusal)")
        case .ping(let value):
            session?.send(.pong(value))
        case .pong(let value):
            if value == pingCounter, let sentAt = pingSentAt {
                roundTripTime = client.host.now - sentAt
                pingSentAt = nil
            }
        case .circuitOffer, .circuitRefused, .incomingCircuit, .signal, .signalRefused:
            client.received(message, from: self)
        case .openCircuit:
            client.host.logger.notice("relay \(name) sent a message only a node sends; reconnecting")
            session?.close()
        }
    }

    private func startKeepalive() {
        keepalive?.cancel()
        let interval = client.configuration.keepaliveInterval
        keepalive = client.host.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
            guard let self else { return }
            if self.client.host.now - self.lastHeard > self.client.configuration.keepaliveTimeout {
                self.client.host.logger.notice("relay \(self.name) answered no keepalive; reconnecting")
                self.failed("no keepalive answer for \((self.client.host.now - self.lastHeard).nanoseconds / 1_000_000) ms")
                return
            }
            self.pingCounter += 1
            self.pingSentAt = self.client.host.now
            self.session?.send(.ping(self.pingCounter))
        }
    }

    private func failed(_ reason: String) {
        guard state != .stopped else { return }
        let wasReserved = isReserved
        generation += 1
        keepalive?.cancel()
        // Reset rather than close: a FIN that cannot reach a silent relay is retransmitted for
        // minutes and holds the link's fixed local port, so no reconnect could bind it.
        if let channel = session?.channel { client.host.resetStream(channel) } else { session?.close() }
        session = nil
        let delay = client.configuration.reconnectBackoff.delay(attempt: failedAttempts, on: client.host)
        failedAttempts += 1
        state = .backingOff(lastError: reason)
        client.host.logger.info("relay \(name): \(reason); retrying in \(delay.nanoseconds / 1_000_000) ms")
        if wasReserved { client.linkChanged(self) }
        client.linkLost(self)
        reconnect = client.host.eventLoop.scheduleTask(in: delay) { [weak self] in self?.connect() }
    }
}
