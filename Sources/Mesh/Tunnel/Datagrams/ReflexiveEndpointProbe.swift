import NIOCore

/// Asks each relay, from the tunnel's UDP port, where it sees that port from
/// (`EndpointReflection`): the node's public UDP endpoints, which the datagram path offers
/// peers besides its local addresses. Two nodes behind endpoint-independent NATs probe each
/// other's reflexive endpoints at once and punch a UDP path, whatever path their stream takes.
///
/// Asks every `refreshInterval` (the NAT's UDP mapping may expire or the node move between
/// asks), accepts an answer only from the relay asked, carrying the nonce of the last request
/// to it, and reports a change of the set of endpoints through `onChange`. Confined to the
/// host's event loop.
final class ReflexiveEndpointProbe {
    /// Below the 30 s Linux keeps an unanswered UDP flow, so a relay's answer finds the mapping
    /// that sent the request.
    static let refreshInterval = TimeAmount.seconds(25)
    /// Relays asked at most (more would only repeat the same endpoint).
    static let maximumRelays = 4

    private unowned let socket: TunnelDatagramSocket
    private let relays: [TunnelEndpointAddress]
    private var nonces: [TunnelEndpointAddress: UInt64] = [:]
    /// What each relay answered last.
    private(set) var observed: [TunnelEndpointAddress: TunnelEndpointAddress] = [:]
    private var refresh: RepeatedTask?
    var onChange: (() -> Void)?

    init(socket: TunnelDatagramSocket, relays: [SocketAddress]) {
        self.socket = socket
        var unique: [TunnelEndpointAddress] = []
        for relay in relays.compactMap(TunnelEndpointAddress.init) where !unique.contains(relay) { unique.append(relay) }
        self.relays = Array(unique.prefix(Self.maximumRelays))
    }

    /// The node's public UDP endpoints as the relays see them, distinct, in relay order.
    var endpoints: [TunnelEndpointAddress] {
        var seen: [TunnelEndpointAddress] = []
        for relay in relays { if let endpoint = observed[relay], !seen.contains(endpoint) { seen.append(endpoint) } }
        return seen
    }

    func start() {
        refresh = socket.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: Self.refreshInterval) { [weak self] _ in
            self?.ask()
        }
    }

    func stop() {
        refresh?.cancel()
        refresh = nil
    }

    private func ask() {
        var random = socket.host.random
        for relay in relays {
            let nonce = random.next()
            nonces[relay] = nonce
            socket.send(EndpointReflection.request(nonce: nonce), to: relay)
        }
    }

    /// An answer on the tunnel's UDP port; ignored unless it is the asked relay's to our last request.
    func receiveAnswer(_ datagram: ByteBuffer, from source: TunnelEndpointAddress) -> Bool {
        guard let (nonce, endpoint) = EndpointReflection.decodeAnswer(datagram), let asked = nonces[source], asked == nonce else {
            return false
        }
        nonces[source] = nil
        let reflexive = TunnelEndpointAddress(endpoint.address, endpoint.port)
        let before = endpoints
        observed[source] = reflexive
        if endpoints != before {
            socket.logger.info("tunnel: relays see our UDP port at \(endpoints.map(\.description).joined(separator: ", "))")
            onChange?()
        }
        return true
    }
}
