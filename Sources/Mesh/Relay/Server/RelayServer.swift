import Logging
import NIOCore

/// The relay role: a node on a public address that keeps reservations for the agents connected
/// to it, tells each its observed public endpoint, splices circuits between two of them, and
/// passes hole-punching signals between them.
///
/// It never sees plaintext of a circuit: the two agents run their end-to-end Noise session
/// through it, and it copies bytes without parsing them. Control connections are authenticated
/// (PSK-gated Noise_XXpsk3; a wrong PSK gets no answer) and a node's name is bound to its key:
/// the key `configuration.boundKeys` lists, else the key the cluster's Node carries when the
/// relay follows the cluster (`clusterKeys`; a name the cluster does not list is refused, and a
/// node whose key changed is admitted with the new key once its Node says so), else the first
/// key that reserved the name. One address holds at most `maxReservationsPerAddress`.
///
/// Confined to the host's event loop; `start()` and `stop()` must be called on it.
public final class RelayServer: @unchecked Sendable {
    private struct Reservation {
        let session: RelayControlSession
        let key: [UInt8]
        let observed: NodeEndpoint
        var lastHeard: NIODeadline
    }

    public let configuration: RelayServerConfiguration
    public private(set) var statistics = RelayStatistics()
    private let host: any Host
    private let staticKey: NoiseKeyPair
    /// The cluster's Node keys, when the relay follows the cluster.
    private let clusterKeys: (any PeerKeyDirectory)?
    private var listener: Channel?
    /// The UDP socket on the relay's port that answers endpoint reflections.
    private var reflector: Channel?
    private var reflectionWindow: (second: Int64, answered: Int) = (0, 0)
    private var reservations: [String: Reservation] = [:]
    /// Keys bound on first use, for names `configuration.boundKeys` does not list.
    private var pinnedKeys: [String: [UInt8]] = [:]
    private var circuitsByToken: [RelayToken: RelayCircuit] = [:]
    /// Circuits being set up or spliced, oldest first.
    private var liveCircuits: [RelayCircuit] = []
    private var circuitCounts: [String: Int] = [:]
    private var totalCircuits = 0
    private var sweep: RepeatedTask?
    /// Connections not yet proven, with the address each came from.
    private var pending: [ObjectIdentifier: IPv4Address] = [:]
    private var pendingByAddress: [IPv4Address: Int] = [:]

    public init(
        host: any Host, configuration: RelayServerConfiguration, staticKey: NoiseKeyPair? = nil, clusterKeys: (any PeerKeyDirectory)? = nil
    ) {
        self.host = host
        self.configuration = configuration
        self.clusterKeys = clusterKeys
        var random = host.random
        self.staticKey = staticKey ?? NoiseKeyPair.generate(using: &random)
    }

    /// The names holding a reservation, sorted.
    public var reservedNodes: [String] { reservations.keys.sorted() }

    /// Where the relay observed `node`'s control connection, if it holds a reservation.
    public func observedEndpoint(of node: String) -> NodeEndpoint? { reservations[node]?.observed }

    /// The address the relay listens on (with the port picked when port 0 was asked for).
    public var localAddress: SocketAddress? { listener?.localAddress }

    public func start() -> EventLoopFuture<Void> {
        let options = StreamListenOptions(address: configuration.listenAddress)
        return host.listenStream(options) { [self] channel in
            guard admitPending(channel) else {
                statistics.refusedPendingConnections += 1
                channel.close(promise: nil)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    PreambleReader(length: RelayConnectionKind.magicLength, timeout: configuration.handshakeTimeout) { [self] context, magic in
                        classify(context.channel, magic: magic)
                    })
            }
        }.map { [self] listener in
            self.listener = listener
            sweep = host.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(5), delay: .seconds(5)) { [self] _ in
                closeIdleSessions()
            }
            host.logger.info("relay listening on \(NodeEndpoint(listener.localAddress)?.description ?? "?")")
        }.flatMap { [self] in
            startReflector()
        }
    }

    /// Binds UDP on the relay's port for endpoint reflections; a relay that cannot keeps
    /// serving over TCP (its nodes then offer peers no reflexive UDP endpoint), and says so.
    private func startReflector() -> EventLoopFuture<Void> {
        guard let address = listener?.localAddress else { return host.eventLoop.makeSucceededVoidFuture() }
        let options = DatagramBindOptions(address: address, reuseAddress: true)
        return host.bindDatagram(options) { [self] channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ReflectionResponder(server: self))
            }
        }.map { [self] channel in
            reflector = channel
        }.recover { [self] error in
            host.logger.warning("relay: no UDP endpoint reflection on \(address): \(error)")
        }
    }

    /// Answers one reflection request with where it came from, within the per-second cap.
    fileprivate func reflect(_ envelope: AddressedEnvelope<ByteBuffer>, on channel: Channel) {
        guard let nonce = EndpointReflection.decodeRequest(envelope.data), let observed = NodeEndpoint(envelope.remoteAddress) else {
            return
        }
        let second = host.now.uptimeNanoseconds / 1_000_000_000
        if reflectionWindow.second != Int64(second) { reflectionWindow = (Int64(second), 0) }
        guard reflectionWindow.answered < configuration.maxReflectionsPerSecond else {
            statistics.reflectionsDropped += 1
            return
        }
        reflectionWindow.answered += 1
        statistics.reflectionsAnswered += 1
        let answer = EndpointReflection.answer(nonce: nonce, observed: observed)
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: answer), promise: nil)
    }

    private final class ReflectionResponder: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        unowned let server: RelayServer
        init(server: RelayServer) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            server.reflect(unwrapInboundIn(data), on: context.channel)
        }
    }

    /// Unproven connections held now.
    public var pendingConnections: Int { pending.count }

    /// Counts `channel` as unproven until `settle` or its close; false when the limits are full.
    private func admitPending(_ channel: Channel) -> Bool {
        let address = channel.remoteAddress?.ipv4Address ?? .any
        guard pending.count < configuration.maxPendingConnections,
            pendingByAddress[address, default: 0] < configuration.maxPendingConnectionsPerAddress
        else { return false }
        pending[ObjectIdentifier(channel)] = address
        pendingByAddress[address, default: 0] += 1
        channel.closeFuture.whenComplete { [self] _ in settle(channel) }
        return true
    }

    /// `channel` proved itself (or is gone): it no longer counts as unproven.
    private func settle(_ channel: Channel) {
        guard let address = pending.removeValue(forKey: ObjectIdentifier(channel)) else { return }
        let left = pendingByAddress[address, default: 1] - 1
        pendingByAddress[address] = left > 0 ? left : nil
    }

    /// Stops listening and drops every reservation and circuit.
    public func stop() {
        sweep?.cancel()
        listener?.close(promise: nil)
        reflector?.close(promise: nil)
        for name in reservations.keys.sorted() { reservations[name]?.session.close() }
        for circuit in liveCircuits { end(circuit) }
    }

    // MARK: Connections

    private func classify(_ channel: Channel, magic: [UInt8]) {
        switch RelayConnectionKind(magic: magic) {
        case .control:
            do {
                let session = try RelayControlSession(
                    role: .responder, staticKey: staticKey, presharedKey: configuration.presharedKey, localName: host.name,
                    random: host.random, handshakeTimeout: configuration.handshakeTimeout,
                    callbacks: .init(
                        authenticated: { [self] session, name, key in authenticated(session, name: name ?? "", key: key) },
                        received: { [self] session, message in received(message, on: session) },
                        closed: { [self] session, error in sessionClosed(session, error: error) }))
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RelayFrameDecoder()))
                try channel.pipeline.syncOperations.addHandler(session)
            } catch {
                channel.close(promise: nil)
            }
        case .data:
            channel.eventLoop.scheduleTask(in: configuration.circuitSetupTimeout) {
                // A data connection that never presented a live token.
                let spliced = self.liveCircuits.contains {
                    $0.isSpliced && ($0.initiatorChannel === channel || $0.targetChannel === channel)
                }
                if !spliced {
                    channel.close(promise: nil)
                }
            }
            try? channel.pipeline.syncOperations.addHandler(
                PreambleReader(length: RelayToken.length, timeout: configuration.circuitSetupTimeout) { [self] context, bytes in
                    dataConnection(context.channel, presented: RelayToken(bytes: bytes)!)
                })
        case nil:
            // Not our protocol: no answer; the peer's own timeout ends it, or ours below.
            statistics.silencedConnections += 1
            channel.eventLoop.scheduleTask(in: configuration.handshakeTimeout) { channel.close(promise: nil) }
        }
    }

    private func authenticated(_ session: RelayControlSession, name: String, key: [UInt8]) {
        if let channel = session.channel { settle(channel) }
        let pinsOnFirstUse = configuration.boundKeys[name] == nil && clusterKeys == nil
        let boundKey: [UInt8]?
        if let configured = configuration.boundKeys[name] {
            boundKey = configured
        } else if let clusterKeys {
            guard let published = clusterKeys.publicKey(ofNode: name) else {
                refuseReservation(session, .nodeUnknownToCluster(node: name))
                return
            }
            boundKey = published
        } else {
            boundKey = pinnedKeys[name]
        }
        if let boundKey, boundKey != key {
            refuseReservation(session, .nameBoundToAnotherKey(node: name))
            return
        }
        // One key is one node: a PSK holder must not take many names (or the relay's every
        // reservation) with one key. Names the configuration or the cluster binds are theirs.
        let heldByKey = pinnedKeys.keys.sorted().first { pinnedKeys[$0] == key && $0 != name }
        if pinsOnFirstUse, boundKey == nil, let other = heldByKey {
            refuseReservation(session, .keyBoundToAnotherNode(node: other))
            return
        }
        if reservations[name] == nil && reservations.count >= configuration.maxReservations {
            refuseReservation(session, .reservationsFull(limit: configuration.maxReservations))
            return
        }
        guard let observed = NodeEndpoint(session.channel?.remoteAddress) else {
            session.close()
            return
        }
        // Nodes behind one NAT share an address; a PSK holder with fresh keys shares one too.
        let fromAddress = reservations.filter { $0.key != name && $0.value.observed.address == observed.address }.count
        guard fromAddress < configuration.maxReservationsPerAddress else {
            refuseReservation(session, .addressReservationsFull(limit: configuration.maxReservationsPerAddress))
            return
        }
        if pinsOnFirstUse { pinnedKeys[name] = key }
        // A node that reconnects replaces its old reservation (its old connection may be dead
        // without either side having noticed yet).
        if let old = reservations[name] {
            reservations[name] = nil
            old.session.close()
        }
        reservations[name] = Reservation(session: session, key: key, observed: observed, lastHeard: host.now)
        statistics.reservations = reservations.count
        session.send(.reservationAccepted(observed: observed, maxCircuits: configuration.maxCircuitsPerNode))
        host.logger.info("relay: reservation for \(name), observed at \(observed)")
    }

    private func refuseReservation(_ session: RelayControlSession, _ refusal: RelayRefusal) {
        host.logger.notice("relay: reservation refused: \(refusal)")
        session.send(.reservationRefused(refusal))
        session.channel?.close(mode: .output, promise: nil)
        host.eventLoop.scheduleTask(in: .seconds(1)) { session.close() }
    }

    private func name(of session: RelayControlSession) -> String? {
        reservations.first { $0.value.session === session }?.key
    }

    private func sessionClosed(_ session: RelayControlSession, error: Error?) {
        if let error, !session.isOpen, case RelayProtocolError.handshakeFailed = error {
            statistics.silencedConnections += 1
        }
        guard let name = name(of: session) else { return }
        reservations[name] = nil
        statistics.reservations = reservations.count
        host.logger.info("relay: reservation for \(name) ended\(error.map { ": \($0)" } ?? "")")
    }

    private func closeIdleSessions() {
        let deadline = host.now - configuration.idleTimeout
        for name in reservations.keys.sorted() where reservations[name]!.lastHeard < deadline {
            host.logger.notice("relay: \(name) silent for \(configuration.idleTimeout.nanoseconds / 1_000_000_000) s; dropping its reservation")
            reservations[name]?.session.close()
        }
    }

    // MARK: Messages

    private func received(_ message: RelayMessage, on session: RelayControlSession) {
        guard let name = name(of: session) else { return }
        reservations[name]?.lastHeard = host.now
        switch message {
        case .ping(let value):
            session.send(.pong(value))
        case .pong:
            break
        case .openCircuit(let request, let target):
            openCircuit(request: request, from: name, to: target, session: session)
        case .signal(let request, let target, let payload):
            guard target != name else {
                session.send(.signalRefused(request: request, .targetIsSelf(node: name)))
                return
            }
            guard let peer = reservations[target] else {
                session.send(.signalRefused(request: request, .noReservation(node: target)))
                return
            }
            statistics.signalsPassed += 1
            peer.session.send(.signal(request: request, node: name, payload: payload))
        case .reservationAccepted, .reservationRefused, .circuitOffer, .circuitRefused, .incomingCircuit, .signalRefused:
            host.logger.notice("relay: \(name) sent a message only a relay sends; closing its connection")
            session.close()
        }
    }

    private func openCircuit(request: UInt32, from initiator: String, to target: String, session: RelayControlSession) {
        func refuse(_ refusal: RelayRefusal) {
            statistics.circuitsRefused += 1
            host.logger.info("relay: circuit \(initiator) → \(target) refused: \(refusal)")
            session.send(.circuitRefused(request: request, refusal))
        }
        guard target != initiator else { return refuse(.targetIsSelf(node: target)) }
        guard let peer = reservations[target] else { return refuse(.noReservation(node: target)) }
        guard totalCircuits < configuration.maxCircuits else { return refuse(.relayOverloaded(limit: configuration.maxCircuits)) }
        for node in [initiator, target] where circuitCounts[node, default: 0] >= configuration.maxCircuitsPerNode {
            return refuse(.circuitLimitReached(node: node, limit: configuration.maxCircuitsPerNode))
        }
        var random = host.random
        let circuit = RelayCircuit(
            initiator: initiator, target: target, request: request, initiatorToken: .random(using: &random),
            targetToken: .random(using: &random))
        circuitsByToken[circuit.initiatorToken] = circuit
        circuitsByToken[circuit.targetToken] = circuit
        count(circuit, by: 1)
        liveCircuits.append(circuit)
        circuit.timeout = host.eventLoop.scheduleTask(in: configuration.circuitSetupTimeout) { [self] in
            guard !circuit.isSpliced else { return }
            host.logger.notice("relay: circuit \(initiator) → \(target): \(target) did not answer in time")
            reservations[initiator]?.session.send(.circuitRefused(request: request, .peerDidNotAnswer(node: target)))
            end(circuit)
        }
        peer.session.send(.incomingCircuit(token: circuit.targetToken, from: initiator))
        session.send(.circuitOffer(request: request, token: circuit.initiatorToken))
    }

    private func count(_ circuit: RelayCircuit, by delta: Int) {
        totalCircuits += delta
        for node in circuit.nodes { circuitCounts[node, default: 0] += delta }
        statistics.activeCircuits = totalCircuits
    }

    private func dataConnection(_ channel: Channel, presented token: RelayToken) {
        guard let circuit = circuitsByToken[token] else {
            // As silent as a wrong PSK: the setup timeout closes it, no sooner.
            statistics.silencedConnections += 1
            return
        }
        // Each token is good for one connection.
        circuitsByToken[token] = nil
        settle(channel)
        if token == circuit.initiatorToken { circuit.initiatorChannel = channel } else { circuit.targetChannel = channel }
        channel.closeFuture.whenComplete { [self] _ in end(circuit) }
        guard let a = circuit.initiatorChannel, let b = circuit.targetChannel else { return }
        splice(circuit, a, b)
    }

    private func splice(_ circuit: RelayCircuit, _ a: Channel, _ b: Channel) {
        circuit.isSpliced = true
        circuit.timeout?.cancel()
        // A half-close ends the circuit: the tunnel connections it carries end their own streams.
        let splice = ChannelSpliceHandler(endOfInput: .closeBoth) { [self] bytes in
            statistics.relayedBytes += bytes
        }
        do {
            try a.pipeline.syncOperations.addHandler(splice)
            try b.pipeline.syncOperations.addHandler(splice)
        } catch {
            end(circuit)
            return
        }
        for channel in [a, b] {
            channel.writeAndFlush(ByteBuffer(integer: RelayConnectionKind.splicedSignal), promise: nil)
        }
        splice.startReading()
        statistics.circuitsOpened += 1
        host.logger.info("relay: circuit \(circuit.initiator) ⇄ \(circuit.target) spliced")
    }

    /// Releases a circuit's slots once; closes whatever of it is still open.
    private func end(_ circuit: RelayCircuit) {
        circuitsByToken[circuit.initiatorToken] = nil
        circuitsByToken[circuit.targetToken] = nil
        circuit.timeout?.cancel()
        circuit.initiatorChannel?.close(promise: nil)
        circuit.targetChannel?.close(promise: nil)
        guard !circuit.isEnded else { return }
        circuit.isEnded = true
        count(circuit, by: -1)
        liveCircuits.removeAll { $0 === circuit }
    }
}
