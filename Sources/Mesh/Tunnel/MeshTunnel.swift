import NIOCore

/// The node's tunnel: one end-to-end encrypted, multiplexed connection per peer agent, reused
/// by every stream to that peer, over the best path the dialers find (direct, then hole-punched,
/// then relayed), upgraded when a better path appears and replaced when its path dies.
///
/// - Identity: a static key pair kept in the host's durable store (`TunnelIdentity`); peers'
///   keys come from `keys` (the Node annotations). Handshakes are gated by the cluster PSK.
/// - Incoming: the tunnel listens on `configuration.port`; the relay and hole-punching side
///   hands it the streams they accept through `peerStreamAcceptor`.
///
/// Confined to the host's event loop: create it and call it there. Streams are channels on the
/// host's loop (a host has one loop), whatever loop `openStream` is given.
public final class MeshTunnel: Tunnel, @unchecked Sendable {
    public let host: any Host
    public let configuration: TunnelConfiguration
    private let keys: any PeerKeyDirectory
    private var dialers: [any PeerPathDialer]
    private var endpoint: TunnelEndpoint?
    /// The tunnel port on each address `configuration.listenOn` chooses.
    private lazy var listeners = ListenerSet(
        owner: "tunnel", host: host, listenOn: configuration.listenOn,
        options: StreamListenOptions(address: IPv4Address.any.socketAddress(port: configuration.port), reuseAddress: true),
        backoff: RetryBackoff(base: .seconds(1), cap: .seconds(30), jitter: .equal)
    ) { [weak self] channel, _ in
        self?.accept(channel, kind: .direct)
        return channel.eventLoop.makeSucceededVoidFuture()
    }
    /// The node's addresses and which the tunnel listens on (empty when it takes them all).
    public var addressChoices: [InterfaceAddressFilter.Choice] { listeners.addressChoices }
    private var maintenance: RepeatedTask?
    private var beacon: LANBeacon?
    private var peers: [String: TunnelPeer] = [:]
    private var datagramSocket: TunnelDatagramSocket?
    private var packetReceiver: ((String, ByteBuffer) -> Void)?
    /// Handshakes under way on accepted connections, in all and by direct source address.
    public private(set) var pendingHandshakes = 0
    private var pendingHandshakesByAddress: [IPv4Address: Int] = [:]
    /// Accepted connections closed at once because `maximumPendingHandshakes` (or its per-address
    /// share) were under way.
    public private(set) var handshakesRefusedAtLimit: UInt64 = 0
    /// Established connections closed because their peer had `maximumConnectionsPerPeer`.
    public internal(set) var connectionsClosedAtPeerLimit: UInt64 = 0

    /// `dialers` are the paths to try besides none; add `DirectPathDialer` for direct paths.
    public init(host: any Host, configuration: TunnelConfiguration, keys: any PeerKeyDirectory,
                dialers: [any PeerPathDialer]) {
        self.host = host
        self.configuration = configuration
        self.keys = keys
        self.dialers = dialers
    }

    var nodeName: String { host.name }

    /// The dialers in the order they are tried: direct before punched before relayed, and in
    /// the order given within a kind.
    var dialersInPreferenceOrder: [any PeerPathDialer] {
        dialers.enumerated().sorted { ($0.element.kind, $0.offset) < ($1.element.kind, $1.offset) }.map(\.element)
    }

    /// Adds a path (for example the relay dialer once relays are known).
    public func addDialer(_ dialer: any PeerPathDialer) {
        dialers.append(dialer)
    }

    /// This node's identity; nil until `start()` completed.
    public var identity: TunnelIdentity? { endpoint?.identity }

    /// Loads or creates the node key, then listens for peers.
    public func start() -> EventLoopFuture<Void> {
        TunnelIdentity.loadOrCreate(host: host).flatMap { identity in
            let endpoint = TunnelEndpoint(host: self.host, identity: identity, configuration: self.configuration, keys: self.keys)
            endpoint.packetReceiver = self.packetReceiver
            self.endpoint = endpoint
            return self.listeners.update(to: [self.configuration.port: "peers"]).flatMapThrowing {
                // Not one address could be listened on: the port is taken, or there is no address.
                guard !self.listeners.sockets.isEmpty else {
                    _ = self.listeners.stop()
                    throw TunnelError.listenFailed(self.listeners.problems.first ?? "no address of the node is chosen (\(self.configuration.listenOn.summary))")
                }
            }.map {
                self.maintenance = self.host.eventLoop.scheduleRepeatedTask(
                    initialDelay: self.configuration.upgradeInterval, delay: self.configuration.upgradeInterval
                ) { _ in self.maintain() }
                self.host.logger.info("tunnel: listening", metadata: [
                    "port": "\(self.configuration.port)", "publicKey": "\(identity.publicKeyText)",
                    "addresses": "\(self.listeners.sockets.map { "\($0.address)" }.joined(separator: ","))"])
            }.flatMap {
                self.startDatagrams(endpoint: endpoint)
            }.flatMap { socket in
                guard self.configuration.lanDiscovery else { return self.host.eventLoop.makeSucceededVoidFuture() }
                let beacon = LANBeacon(host: self.host, port: self.configuration.port, presharedKey: self.configuration.presharedKey,
                                       interfaces: self.configuration.listenOn, clockWindow: self.configuration.handshakeClockWindow)
                self.beacon = beacon
                guard let socket else { return beacon.start(identity: identity) }
                // One UDP port: the datagram socket hands the beacon its announcements.
                self.datagramSocket?.beaconReceiver = { [weak beacon] bytes, source in
                    guard bytes.readableBytes <= LANBeacon.maximumLength else { return }
                    beacon?.receive(Array(bytes.readableBytesView), from: source)
                }
                return beacon.start(identity: identity, on: socket)
            }
        }
    }

    /// The UDP socket for pod packets' datagram path, when `configuration.datagrams`; nil (and
    /// datagrams off) when the port cannot be bound, which the log says.
    private func startDatagrams(endpoint: TunnelEndpoint) -> EventLoopFuture<Channel?> {
        guard configuration.datagrams else { return host.eventLoop.makeSucceededFuture(nil) }
        let socket = TunnelDatagramSocket(host: host, port: configuration.port)
        return socket.start().map { channel -> Channel? in
            self.datagramSocket = socket
            endpoint.datagramSocket = socket
            endpoint.datagramCandidates = { [weak self, weak socket] in
                guard let self else { return [] }
                var candidates = self.configuration.listenOn.addresses(from: self.host.interfaces)
                    .map { TunnelEndpointAddress($0, self.configuration.port) }
                // Behind a NAT, the endpoint the relays see is the one a peer elsewhere can reach.
                for reflexive in socket?.reflexiveProbe?.endpoints ?? [] where !candidates.contains(reflexive) {
                    candidates.append(reflexive)
                }
                return Array(candidates.prefix(TunnelFrame.maximumCandidates))
            }
            return channel
        }.recover { error in
            self.host.logger.warning("tunnel: no datagram path for pod packets (UDP port \(self.configuration.port): \(error))")
            return nil
        }
    }

    /// Dials a connection to `node` unless one is up (the rejoin of punched peers keeps them
    /// joined without waiting for traffic).
    public func connect(to node: String) -> EventLoopFuture<Void> {
        guard let endpoint else { return host.eventLoop.makeFailedFuture(TunnelError.notRunning) }
        return peer(node).connection(endpoint: endpoint).map { _ in }
    }

    /// Whether a connection to `node` is up now.
    public func isConnected(to node: String) -> Bool { peers[node]?.current?.isEstablished == true }

    /// Asks `relays` (on their port, over UDP) where they see the tunnel's UDP port from; their
    /// answers join the datagram endpoints offered to peers, and when they change every
    /// connection offers again. Call once the tunnel started; nothing without datagrams.
    public func reflectDatagramEndpoints(through relays: [SocketAddress]) {
        guard let socket = datagramSocket, socket.reflexiveProbe == nil, !relays.isEmpty else { return }
        let probe = ReflexiveEndpointProbe(socket: socket, relays: relays)
        probe.onChange = { [weak self] in
            guard let self else { return }
            for node in self.peers.keys.sorted() {
                for connection in self.peers[node]!.connections { connection.offerDatagrams() }
            }
        }
        socket.reflexiveProbe = probe
        probe.start()
    }

    /// The tunnel's UDP endpoints as the relays see them (empty without relays or behind none).
    public var reflexiveDatagramEndpoints: [TunnelEndpointAddress] { datagramSocket?.reflexiveProbe?.endpoints ?? [] }

    /// The addresses listened on now, and each socket that could not be opened.
    public var listeningStatus: (sockets: [String], problems: [String]) {
        (listeners.sockets.map(\.description), listeners.problems)
    }

    /// Stops listening and closes every connection (their streams fail).
    public func stop() -> EventLoopFuture<Void> {
        maintenance?.cancel()
        maintenance = nil
        beacon?.stop()
        beacon = nil
        datagramSocket?.stop()
        datagramSocket = nil
        let closing = peers.keys.sorted().flatMap { peers[$0]!.connections }
        for connection in closing { connection.fail("the tunnel was stopped on node \(host.name)") }
        peers = [:]
        endpoint = nil
        return listeners.stop()
    }

    /// For the relay and hole-punching side: call with each raw byte stream a peer opened to
    /// this node; the tunnel answers the handshake on it. On the channel's loop the handshake
    /// handlers go in at once: the caller may pass on bytes that came with its own preamble
    /// (the relay's spliced signal and the peer's first handshake message in one read) right
    /// after this returns, and a later tick would find no handler to take them.
    public var peerStreamAcceptor: PeerStreamAcceptor {
        { channel, kind in
            if channel.eventLoop.inEventLoop {
                self.accept(channel, kind: kind)
            } else {
                channel.eventLoop.execute { self.accept(channel, kind: kind) }
            }
        }
    }

    private func accept(_ channel: Channel, kind: PeerPathKind) {
        guard let endpoint else {
            channel.close(promise: nil)
            return
        }
        let source = kind == .direct ? channel.remoteAddress?.ipv4Address : nil
        guard pendingHandshakes < configuration.maximumPendingHandshakes,
            source.map({ pendingHandshakesByAddress[$0, default: 0] < configuration.maximumPendingHandshakesPerAddress }) ?? true
        else {
            handshakesRefusedAtLimit += 1
            channel.close(promise: nil)
            return
        }
        pendingHandshakes += 1
        if let source { pendingHandshakesByAddress[source, default: 0] += 1 }
        let connection = TunnelConnection.install(on: channel, endpoint: endpoint, role: .responder, pathKind: kind)
        connection.established.whenComplete { _ in
            self.pendingHandshakes -= 1
            if let source {
                let left = self.pendingHandshakesByAddress[source, default: 1] - 1
                self.pendingHandshakesByAddress[source] = left > 0 ? left : nil
            }
        }
        connection.established.whenSuccess {
            connection in
            guard let node = connection.peerNode, self.endpoint === endpoint else {
                connection.fail("the tunnel stopped")
                return
            }
            self.peer(node).adopt(connection)
        }
    }

    public func openStream(to target: TunnelTarget, on eventLoop: EventLoop) -> EventLoopFuture<Channel> {
        let opened = host.eventLoop.flatSubmit { () -> EventLoopFuture<Channel> in
            guard let endpoint = self.endpoint else { return self.host.eventLoop.makeFailedFuture(TunnelError.notRunning) }
            guard target.node != self.host.name else {
                return self.host.eventLoop.makeFailedFuture(TunnelError.invalidConfiguration(
                    "\(target) is on this node; the proxy dials local targets itself"))
            }
            return self.peer(target.node).connection(endpoint: endpoint).flatMap { connection in
                connection.multiplexer.openStream(to: target)
            }
        }
        return opened.hop(to: eventLoop)
    }

    /// Sends one pod-network packet (an IPv4 packet, for the edge CNI) to `node`'s agent over the
    /// connection in use, dialing one if none is up (see `TunnelPeer.sendPacket`). Best effort,
    /// as a router is: a packet that cannot go is dropped and counted in the peer's status.
    /// Datagrams wait for `flushPackets`, so a burst leaves together. Call on the host's event loop.
    public func sendPacket(_ packet: ByteBuffer, to node: String) {
        guard let endpoint, node != host.name, packet.readableBytes <= TunnelConnection.maxPacket else { return }
        peer(node).sendPacket(packet, endpoint: endpoint)
    }

    /// Sends the datagrams `sendPacket` left waiting: call after a burst of packets.
    public func flushPackets() {
        datagramSocket?.flushPending()
    }

    /// Hands every pod-network packet a peer sends to `receiver`, with the peer's node name (the
    /// identity its handshake proved). Call on the host's event loop.
    public func receivePackets(_ receiver: @escaping (_ node: String, _ packet: ByteBuffer) -> Void) {
        packetReceiver = receiver
        endpoint?.packetReceiver = receiver
    }

    /// Where `node` was heard on this node's LANs recently (see `LANBeacon`); for the direct
    /// dialer, ahead of the Node object's addresses.
    public func lanAddresses(ofNode node: String) -> [IPv4Address] {
        beacon?.addresses(ofNode: node) ?? []
    }

    /// Bytes of the receive budget the open streams hold now.
    public var receiveBudgetInUse: Int { endpoint?.receiveBudget.reserved ?? 0 }
    /// Streams refused because the receive budget was spent, since the tunnel last started.
    public var streamsRefusedOverBudget: UInt64 { endpoint?.receiveBudget.refusals ?? 0 }

    /// Datagrams from UDP targets dropped because their stream back to the peer was full, since
    /// the tunnel last started.
    public var datagramsDroppedForFullStreams: Int { endpoint?.targetDialer.datagramDrops.count ?? 0 }

    /// Datagrams on the tunnel's UDP port dropped since it started: for no session of ours, not
    /// authenticating under the session they name, replayed, or not the tunnel's at all.
    public var datagramsRejected: UInt64 { datagramSocket?.rejected ?? 0 }

    /// Every peer this node has talked to, by node name.
    public func peerStatuses() -> [TunnelPeerStatus] {
        peers.keys.sorted().map { peers[$0]!.status }
    }

    private func peer(_ node: String) -> TunnelPeer {
        if let peer = peers[node] { return peer }
        let peer = TunnelPeer(node: node, tunnel: self)
        peers[node] = peer
        return peer
    }

    private func maintain() {
        guard let endpoint else { return }
        for node in peers.keys.sorted() { peers[node]!.maintain(endpoint: endpoint) }
    }
}
