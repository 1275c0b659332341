import Mesh
import NIOCore

/// A simulated host's networking stack: its sockets, its TCP connections, its ephemeral
/// ports, and the interception hook (the simulator's stand-in for nftables `redirect`).
///
/// Everything here is volatile: a crash forgets all of it.
final class SimKernel {
    // unowned(unsafe): the simulator owns every node and kernel and outlives them; these are
    // read per packet, where a checked unowned reference costs a retain.
    unowned(unsafe) let simulator: Simulator
    unowned(unsafe) let node: SimNode
    let random: SimRandom
    let emptyBuffer = ByteBufferAllocator().buffer(capacity: 0)

    private var datagramSockets: [UInt16: [DatagramReceiver]] = [:]
    private var listeners: [UInt16: [TCPAcceptor]] = [:]
    private var connections: [ConnectionKey: TCPConnection] = [:]
    /// Connections per local port, so finding a free port does not scan every connection.
    private var connectionsPerPort: [UInt16: Int] = [:]
    private var nextEphemeralPort: UInt16

    /// Service endpoint → local port of the agent's listener, per transport.
    private var interceptions: [FlowKey: UInt16] = [:]
    /// Client endpoint → the service endpoint it was really talking to (conntrack).
    private var redirectedFlows: [FlowKey: Endpoint] = [:]

    static let ephemeralPorts: ClosedRange<UInt16> = 32768...60999

    init(simulator: Simulator, node: SimNode) {
        self.simulator = simulator
        self.node = node
        self.random = SimRandom(seed: simulator.seed, label: "kernel:\(node.name)")
        let span = UInt64(Self.ephemeralPorts.count)
        self.nextEphemeralPort = Self.ephemeralPorts.lowerBound + UInt16(random.nextInt(below: span))
    }

    var now: UInt64 { simulator.now }

    /// Sockets open on this host: TCP connections (any state), listeners and datagram sockets.
    var openSocketCount: Int {
        connections.count + listeners.values.reduce(0) { $0 + $1.count } + datagramSockets.values.reduce(0) { $0 + $1.count }
    }

    var primaryAddress: IPv4Address { node.interfaces[0].address }

    func socketAddress(_ endpoint: Endpoint) -> SocketAddress {
        endpoint.socketAddress
    }

    /// Runs `body` on this node's loop at `deadline` (dropped if the node crashes first).
    func schedule(at deadline: UInt64, _ body: @escaping () -> Void) {
        simulator.schedule(at: deadline, SimTask(node: node.id, generation: node.loop.generation, body: body))
    }

    // MARK: Binding

    /// The address to bind: the host's own, loopback or any; port 0 picks an ephemeral port.
    /// The local endpoint for a new socket: `requested`, or an ephemeral port. As on Linux,
    /// whose listeners the backend opens with SO_REUSEADDR, a `listening` socket takes a port
    /// that only connections use (a restarted server's old ones), not one another listener has.
    func resolveLocal(_ requested: Endpoint?, transport: TransportProtocol, reuse: Bool, listening: Bool = false) throws -> Endpoint {
        let address = requested?.address ?? .any
        guard address.isUnspecified || node.owns(address) else {
            throw HostError.addressNotAvailable(address.socketAddress(port: requested?.port ?? 0))
        }
        if let port = requested?.port, port != 0 {
            if !reuse && isPortInUse(port, transport: transport, countingConnections: !listening, address: address) {
                throw HostError.addressInUse(address.socketAddress(port: port))
            }
            return Endpoint(address, port)
        }
        return Endpoint(address, try allocateEphemeralPort(transport: transport))
    }

    /// Whether `port` is taken for a socket on `address`: listeners on other addresses of the
    /// host leave it free, one on `0.0.0.0` (or a request for it) does not, as on Linux.
    private func isPortInUse(
        _ port: UInt16, transport: TransportProtocol, countingConnections: Bool = true, address: IPv4Address = .any
    ) -> Bool {
        switch transport {
        case .udp: return datagramSockets[port] != nil
        case .tcp:
            let listening = listeners[port]?.contains {
                address.isUnspecified || $0.listeningAddress.isUnspecified || $0.listeningAddress == address
            } ?? false
            return listening || (countingConnections && connectionsPerPort[port] != nil)
        }
    }

    private func allocateEphemeralPort(transport: TransportProtocol) throws -> UInt16 {
        for _ in 0..<Self.ephemeralPorts.count {
            let candidate = nextEphemeralPort
            nextEphemeralPort = candidate == Self.ephemeralPorts.upperBound ? Self.ephemeralPorts.lowerBound : candidate + 1
            if !isPortInUse(candidate, transport: transport) { return candidate }
        }
        throw HostError.addressInUse(IPv4Address.any.socketAddress(port: 0))
    }

    func bindDatagram(_ receiver: DatagramReceiver, port: UInt16) {
        datagramSockets[port, default: []].append(receiver)
    }

    func unbindDatagram(_ receiver: DatagramReceiver, port: UInt16) {
        datagramSockets[port]?.removeAll { $0 === receiver }
        if datagramSockets[port]?.isEmpty == true { datagramSockets[port] = nil }
    }

    func listen(_ acceptor: TCPAcceptor, port: UInt16) {
        listeners[port, default: []].append(acceptor)
    }

    /// The listener a connection to `destination` reaches: the one on its address, else one on
    /// every address.
    private func acceptor(for destination: Endpoint) -> TCPAcceptor? {
        guard let candidates = listeners[destination.port] else { return nil }
        return candidates.first { $0.listeningAddress == destination.address }
            ?? candidates.first { $0.listeningAddress.isUnspecified }
    }

    func stopListening(_ acceptor: TCPAcceptor, port: UInt16) {
        listeners[port]?.removeAll { $0 === acceptor }
        if listeners[port]?.isEmpty == true { listeners[port] = nil }
    }

    // MARK: TCP

    /// Opens a connection from `local` (the port already resolved) to `remote`.
    func connect(from local: Endpoint, to remote: Endpoint) throws -> TCPConnection {
        let source = Endpoint(local.address.isUnspecified ? sourceAddress(toward: remote.address) : local.address, local.port)
        let key = ConnectionKey(local: source, remote: remote)
        guard connections[key] == nil else { throw HostError.addressInUse(source.socketAddress) }
        let connection = TCPConnection(
            activeOpen: key, kernel: self, options: simulator.tcpOptions, initialSequence: UInt32(truncatingIfNeeded: random.nextUInt64()))
        if connection.state != .closed { remember(connection) }
        return connection
    }

    private func remember(_ connection: TCPConnection) {
        connections[connection.key] = connection
        connectionsPerPort[connection.key.local.port, default: 0] += 1
    }

    func forget(_ connection: TCPConnection) {
        guard connections[connection.key] === connection else { return }
        connections[connection.key] = nil
        let port = connection.key.local.port
        let remaining = (connectionsPerPort[port] ?? 1) - 1
        connectionsPerPort[port] = remaining > 0 ? remaining : nil
    }

    func transmitTCP(from source: Endpoint, to destination: Endpoint, header: TCPHeader, payload: ByteBuffer) {
        let packet = Packet(
            id: simulator.makePacketID(), transport: .tcp, source: source, destination: destination, tcp: header,
            payload: payload, origin: node.id)
        output(packet)
    }

    // MARK: UDP

    func sendDatagram(from local: Endpoint, to remote: Endpoint, payload: ByteBuffer) {
        let source = Endpoint(local.address.isUnspecified ? sourceAddress(toward: remote.address) : local.address, local.port)
        let packet = Packet(
            id: simulator.makePacketID(), transport: .udp, source: source, destination: remote, payload: payload, origin: node.id)
        output(packet)
    }

    private func sourceAddress(toward destination: IPv4Address) -> IPv4Address {
        destination.isLoopback ? .loopback : primaryAddress
    }

    // MARK: Interception

    func setInterceptions(_ rules: [InterceptionRule]) {
        interceptions = Dictionary(
            rules.map { (FlowKey(transport: $0.transport, endpoint: Endpoint($0.serviceAddress, $0.servicePort)), $0.localPort) },
            uniquingKeysWith: { _, last in last })
    }

    /// The service endpoint a redirected flow from `client` was addressed to.
    func originalDestination(transport: TransportProtocol, client: Endpoint) -> Endpoint? {
        redirectedFlows[FlowKey(transport: transport, endpoint: client)]
    }

    /// The OUTPUT hook: traffic to an intercepted service goes to the local agent instead, and
    /// the agent's replies look as if the service sent them (what nftables `redirect` and
    /// conntrack do on Linux).
    private func output(_ original: Packet) {
        var packet = original
        if !interceptions.isEmpty {
            if redirectIfIntercepted(&packet, to: packet.source.address) {
                // To the agent on this host.
            } else if let service = redirectedFlows[FlowKey(transport: packet.transport, endpoint: packet.destination)],
                interceptions[FlowKey(transport: packet.transport, endpoint: service)] == packet.source.port
            {
                packet.source = service
            }
        }
        simulator.send(packet, from: node)
    }

    /// The PREROUTING hook: a packet arriving from a network (a pod's, through the bridge) for
    /// an intercepted service goes to the agent at `interfaceAddress`, the address of the
    /// interface it came in on, as nftables `redirect` does. Returns whether a rule took it.
    func redirectArriving(_ packet: inout Packet, interfaceAddress: IPv4Address) -> Bool {
        !interceptions.isEmpty && redirectIfIntercepted(&packet, to: interfaceAddress)
    }

    /// Points `packet` at the agent's port for its service, at `address`, when a rule
    /// intercepts it, and remembers the flow so replies and `originalDestination` find the service.
    private func redirectIfIntercepted(_ packet: inout Packet, to address: IPv4Address) -> Bool {
        guard let localPort = interceptions[FlowKey(transport: packet.transport, endpoint: packet.destination)] else { return false }
        redirectedFlows[FlowKey(transport: packet.transport, endpoint: packet.source)] = packet.destination
        packet.destination = Endpoint(address, localPort)
        return true
    }

    // MARK: Input

    func receive(_ packet: Packet) {
        switch packet.transport {
        case .udp:
            guard let receiver = datagramSockets[packet.destination.port]?.first else {
                simulator.trace.recordFault(at: now, "\(node.name): udp port \(packet.destination.port) unreachable")
                return
            }
            receiver.receive(packet.payload, from: packet.source, to: packet.destination)
        case .tcp:
            guard let header = packet.tcp else { return }
            let key = ConnectionKey(local: packet.destination, remote: packet.source)
            if let connection = connections[key] {
                connection.receive(header, payload: packet.payload)
            } else if header.flags.contains(.syn), !header.flags.contains(.ack),
                let acceptor = acceptor(for: packet.destination)
            {
                let connection = TCPConnection(
                    passiveOpen: key, kernel: self, options: simulator.tcpOptions,
                    initialSequence: UInt32(truncatingIfNeeded: random.nextUInt64()), peerSequence: header.sequence)
                connection.acceptor = acceptor
                remember(connection)
            } else if !header.flags.contains(.rst) {
                // Nobody here: refuse, as a real stack does.
                let reset = TCPHeader.reset(answering: header, payloadLength: packet.payload.readableBytes)
                transmitTCP(from: packet.destination, to: packet.source, header: reset, payload: emptyBuffer)
            }
        }
    }

    // MARK: Crash

    /// Power loss: every socket and connection vanishes without a FIN or RST.
    func forgetEverything() {
        datagramSockets.removeAll()
        listeners.removeAll()
        connections.removeAll()
        connectionsPerPort.removeAll()
        interceptions.removeAll()
        redirectedFlows.removeAll()
    }
}

/// A bound datagram socket.
protocol DatagramReceiver: AnyObject {
    func receive(_ payload: ByteBuffer, from source: Endpoint, to destination: Endpoint)
}
