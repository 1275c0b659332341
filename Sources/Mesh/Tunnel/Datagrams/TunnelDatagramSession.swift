import NIOCore

/// The datagram side of one tunnel connection: its pod packets sent as UDP datagrams straight to
/// the peer, WireGuard-like, when a UDP path between the two nodes works; the connection's
/// stream carries them otherwise.
///
/// Keys: a second Noise transport split from the connection's own handshake under a label, so
/// the datagrams carry the same identity and PSK-gated trust as the stream, with keys (and
/// nonces) of their own, each datagram's counter checked against a replay window.
///
///     type 4 (1) | receiver's session index (4) | counter (8) | ciphertext | tag (16)
///
/// Path: both ends offer their session index and the endpoints they may be reached at over the
/// connection (`TunnelFrame.datagramOffer`); each probes the other's endpoints with pings, once
/// a second, so the two NATs see traffic both ways at once (UDP hole punching). A pong proves
/// the path both ways; from then on packets go to the endpoint it came from, and keepalive
/// pings hold the NAT mappings open. An authenticated datagram from a new endpoint moves the path
/// there (the peer's NAT rebound, or it moved). Silence for `deadAfter` drops back to the stream
/// and to probing. Confined to the host's event loop.
final class TunnelDatagramSession: @unchecked Sendable {
    static let messageType: UInt8 = 4
    static let headerLength = 5
    /// How often candidates are probed while no path works, and for how many rounds before the
    /// session waits for `reprobeInterval`.
    static let probeInterval = TimeAmount.seconds(1)
    static let probeRounds = 10
    static let reprobeInterval = TimeAmount.seconds(30)
    /// Endpoints learned from the peer's pings (its NAT's mappings) kept for probing, newest
    /// last. A peer's authenticated pings from ever new sources (a UDP source is easy to forge)
    /// would otherwise grow the list, and every round probes each entry: the cap keeps this node
    /// from being steered into pinging addresses without bound.
    static let maximumLearnedCandidates = 4

    let localIndex: UInt32
    private(set) var remoteIndex: UInt32?
    private var transport: NoiseTransport
    private unowned let socket: TunnelDatagramSocket
    /// Where the peer said it may be reached (its offer and where its connection comes from).
    private var offered: [TunnelEndpointAddress] = []
    /// Where its pings came from while no path worked, at most `maximumLearnedCandidates`.
    private(set) var learned: [TunnelEndpointAddress] = []
    /// What each probing round pings.
    var candidates: [TunnelEndpointAddress] { offered + learned }
    /// The endpoint a pong came from: the path in use; nil while none works.
    private(set) var endpoint: TunnelEndpointAddress?
    private var lastReceived: NIODeadline?
    private var outstandingPing: (nonce: UInt64, sentAt: NIODeadline)?
    private var nextNonce: UInt64 = 1
    private var timer: Scheduled<Void>?
    private var roundsLeft = probeRounds
    private let keepaliveInterval: TimeAmount
    private let deadAfter: TimeAmount
    /// Called with each pod packet the peer sent as a datagram.
    private let deliver: (ByteBuffer) -> Void
    private(set) var roundTripTime: TimeAmount?
    private(set) var packetsSent: UInt64 = 0
    private(set) var packetsReceived: UInt64 = 0
    /// UDP payload bytes sent and received that authenticated, probes and keepalives included.
    private(set) var bytesSent: UInt64 = 0
    private(set) var bytesReceived: UInt64 = 0
    private var closed = false

    init(localIndex: UInt32, transport: NoiseTransport, socket: TunnelDatagramSocket, keepaliveInterval: TimeAmount,
         deadAfter: TimeAmount, deliver: @escaping (ByteBuffer) -> Void) {
        self.localIndex = localIndex
        self.transport = transport
        self.socket = socket
        self.keepaliveInterval = keepaliveInterval
        self.deadAfter = deadAfter
        self.deliver = deliver
    }

    /// Whether pod packets go as datagrams now.
    var isUp: Bool { endpoint != nil && remoteIndex != nil }

    // MARK: Path

    /// The peer's offer: where to send, under which index. Starts probing.
    func receiveOffer(index: UInt32, candidates offered: [TunnelEndpointAddress], observed: [TunnelEndpointAddress]) {
        guard !closed else { return }
        remoteIndex = index
        var merged: [TunnelEndpointAddress] = []
        for candidate in offered.prefix(TunnelFrame.maximumCandidates) + observed where !merged.contains(candidate) {
            merged.append(candidate)
        }
        self.offered = merged
        learned.removeAll { merged.contains($0) }
        roundsLeft = Self.probeRounds
        schedule(in: .zero)
    }

    private func schedule(in delay: TimeAmount) {
        timer?.cancel()
        timer = socket.eventLoop.scheduleTask(in: delay) { [weak self] in self?.tick() }
    }

    /// Probes while no path works; pings the endpoint in use as a keepalive; gives the path up
    /// after `deadAfter` of silence.
    private func tick() {
        guard !closed, remoteIndex != nil else { return }
        let now = socket.eventLoop.now
        if let endpoint {
            if let lastReceived, now - lastReceived >= deadAfter {
                socket.logger.info("tunnel: datagram path lost", metadata: ["endpoint": "\(endpoint)", "silent": "\(TunnelConnection.text(now - lastReceived))"])
                self.endpoint = nil
                roundsLeft = Self.probeRounds
                schedule(in: .zero)
                return
            }
            ping(endpoint)
            schedule(in: keepaliveInterval)
            return
        }
        if roundsLeft == 0 {
            roundsLeft = Self.probeRounds
            schedule(in: Self.reprobeInterval)
            return
        }
        roundsLeft -= 1
        for candidate in candidates { ping(candidate) }
        schedule(in: Self.probeInterval)
    }

    private func ping(_ destination: TunnelEndpointAddress) {
        let nonce = nextNonce
        nextNonce += 1
        if outstandingPing == nil || endpoint != nil { outstandingPing = (nonce, socket.eventLoop.now) }
        send(.ping(nonce: nonce), to: destination)
    }

    // MARK: Sending

    /// Sends one pod packet on the path in use; false when there is none (the caller uses the stream).
    /// Left unflushed: the caller flushes the socket after a burst (`TunnelDatagramSocket.flushPending`).
    func sendPacket(_ packet: ByteBuffer) -> Bool {
        guard let endpoint, !closed else { return false }
        guard send(.packet(packet), to: endpoint, flush: false) else { return false }
        packetsSent += 1
        return true
    }

    @discardableResult
    private func send(_ frame: TunnelFrame, to destination: TunnelEndpointAddress, flush: Bool = true) -> Bool {
        guard let remoteIndex else { return false }
        var plaintext = socket.allocator.buffer(capacity: 64)
        frame.encode(into: &plaintext)
        var datagram = socket.allocator.buffer(capacity: Self.headerLength + NoiseTransport.frameOverhead + plaintext.readableBytes)
        datagram.writeInteger(Self.messageType)
        datagram.writeInteger(remoteIndex)
        do {
            try plaintext.withUnsafeReadableBytes { try transport.seal($0, appendingTo: &datagram) }
        } catch {
            return false
        }
        bytesSent += UInt64(datagram.readableBytes)
        socket.send(datagram, to: destination, flush: flush)
        return true
    }

    // MARK: Receiving

    /// A datagram for this session (its header already read): dropped unless it authenticates.
    func receive(_ sealed: ByteBuffer, from source: TunnelEndpointAddress) {
        var plaintext = socket.allocator.buffer(capacity: sealed.readableBytes)
        guard !closed, (try? sealed.withUnsafeReadableBytes { try transport.open($0, appendingTo: &plaintext) }) != nil,
            let frame = try? TunnelFrame.decode(plaintext)
        else {
            socket.rejected += 1
            return
        }
        let now = socket.eventLoop.now
        lastReceived = now
        bytesReceived += UInt64(sealed.readableBytes + Self.headerLength)
        if let endpoint, endpoint != source {
            // Authenticated from elsewhere: the peer's NAT rebound or the peer moved.
            socket.logger.info("tunnel: datagram path moved", metadata: ["from": "\(endpoint)", "to": "\(source)"])
            self.endpoint = source
        }
        switch frame {
        case .ping(let nonce):
            send(.pong(nonce: nonce), to: source)
            if endpoint == nil, !candidates.contains(source) {
                // Reached from an endpoint not offered (a NAT's mapping for us): probe it too.
                if learned.count == Self.maximumLearnedCandidates { learned.removeFirst() }
                learned.append(source)
                schedule(in: .zero)
            }
        case .pong(let nonce):
            if let outstanding = outstandingPing, nonce >= outstanding.nonce {
                roundTripTime = now - outstanding.sentAt
                outstandingPing = nil
            }
            if endpoint == nil {
                endpoint = source
                socket.logger.info("tunnel: datagram path up", metadata: ["endpoint": "\(source)"])
                schedule(in: keepaliveInterval)
            }
        case .packet(let packet):
            packetsReceived += 1
            deliver(packet)
        default:
            socket.rejected += 1
        }
    }

    func close() {
        closed = true
        timer?.cancel()
        timer = nil
        endpoint = nil
        socket.forget(self)
    }
}
