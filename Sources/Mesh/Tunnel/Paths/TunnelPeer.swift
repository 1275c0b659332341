import NIOCore

/// Everything this node keeps about one peer: its connections (one in use, older ones finishing
/// their streams), the dial in progress, and why the last attempt failed.
///
/// Path choice: the connection on the best path kind (`PeerPathKind` order: direct, punched,
/// relayed) is used for new streams. Between two connections on the same kind, the one dialed by
/// the node whose name sorts first wins, then the newer one, so both ends settle on the same
/// connection when they dialed each other at once or one of them upgraded. Only the side that
/// dialed a connection closes it when it is no longer used; the other side follows. Confined to
/// the host's event loop.
final class TunnelPeer: @unchecked Sendable {
    let node: String
    private unowned let tunnel: MeshTunnel
    private(set) var current: TunnelConnection?
    /// Every established, still open connection, `current` included, oldest first.
    private(set) var connections: [TunnelConnection] = []
    private var dialing: EventLoopFuture<TunnelConnection>?
    private var upgrading = false
    /// Upgrades that failed in a row, and when the next may start: a better path that failed
    /// (a NAT that maps per destination) will most likely fail again, so it is tried less and
    /// less often, down to once every 32 upgrade intervals.
    private var failedUpgrades = 0
    private var nextUpgradeAt = NIODeadline.uptimeNanoseconds(0)
    private(set) var lastFailure: String?
    private var closedBytesSent: UInt64 = 0
    private var closedBytesReceived: UInt64 = 0
    private var closedPacketsReceived: UInt64 = 0
    /// Pod-network packets waiting for the first connection to come up, oldest first.
    private var stagedPackets: [ByteBuffer] = []
    private var packetCounters = TunnelPeerStatus.PacketCounters()

    init(node: String, tunnel: MeshTunnel) {
        self.node = node
        self.tunnel = tunnel
    }

    /// The connection new streams use, dialing one when there is none.
    func connection(endpoint: TunnelEndpoint) -> EventLoopFuture<TunnelConnection> {
        // A connection that failed a moment ago is forgotten only when its channel's close
        // completes; do not hand it out meanwhile.
        if let current, current.isEstablished { return endpoint.host.eventLoop.makeSucceededFuture(current) }
        if let dialing { return dialing }
        let attempt = dial(endpoint: endpoint, dialers: tunnel.dialersInPreferenceOrder)
        dialing = attempt
        attempt.whenComplete { _ in self.dialing = nil }
        return attempt
    }

    /// Sends one pod-network packet on the connection in use; with none up yet, keeps up to
    /// `maximumStagedPackets` until one is (as WireGuard stages packets during its handshake),
    /// dropping later ones and, if no path comes up, the staged ones too.
    func sendPacket(_ packet: ByteBuffer, endpoint: TunnelEndpoint) {
        if let current, current.isEstablished {
            if current.datagramSession?.sendPacket(packet) == true {
                packetCounters.sentAsDatagrams += 1
            } else {
                current.send(.packet(packet))
                current.flush()
            }
            packetCounters.sent += 1
            return
        }
        guard stagedPackets.count < tunnel.configuration.maximumStagedPackets else {
            packetCounters.dropped += 1
            return
        }
        stagedPackets.append(packet)
        // The first packet staged waits for the connection; the others ride along with it.
        guard stagedPackets.count == 1 else { return }
        connection(endpoint: endpoint).whenComplete { result in
            let staged = self.stagedPackets
            self.stagedPackets = []
            switch result {
            case .success(let connection) where connection.isEstablished:
                for packet in staged { connection.send(.packet(packet)) }
                connection.flush()
                self.packetCounters.sent += UInt64(staged.count)
            default:
                self.packetCounters.dropped += UInt64(staged.count)
            }
        }
    }

    /// Dials over `dialers` (best first, racing with a head start; see `PathRace`).
    private func dial(endpoint: TunnelEndpoint, dialers: [any PeerPathDialer]) -> EventLoopFuture<TunnelConnection> {
        let eventLoop = endpoint.host.eventLoop
        guard let key = endpoint.keys.publicKey(ofNode: node) else {
            let error = TunnelError.noKnownKey(node: node)
            lastFailure = error.description
            return eventLoop.makeFailedFuture(error)
        }
        let race = PathRace(
            dialers: dialers, headStart: endpoint.configuration.pathHeadStart,
            fallbackHeadStart: dialers.count > 1 && dialers.last?.kind == .relayed ? endpoint.configuration.relayHeadStart : nil,
            eventLoop: eventLoop,
            connect: { dialer in
                dialer.dial(node: self.node).flatMap { channel in
                    let connection = TunnelConnection.install(
                        on: channel, endpoint: endpoint, role: .initiator(node: self.node, key: key), pathKind: dialer.kind)
                    return connection.established.flatMapErrorThrowing { error in
                        // A failed handshake still moved bytes; the status counts them.
                        self.closedBytesSent += connection.bytesSent
                        self.closedBytesReceived += connection.bytesReceived
                        throw error
                    }
                }
            },
            onConnection: { self.adopt($0) })
        race.onBetterPathFailed = { failure in
            // The fallback won first; say why the better path did not come after it.
            guard let current = self.current, current.pathKind == .relayed else { return }
            let using = "using the \(current.pathKind) path"
            self.lastFailure = (self.lastFailure?.hasPrefix(using) == true ? self.lastFailure! : using) + "; " + failure
        }
        return race.run().map { connection, failures in
            if !failures.isEmpty {
                // Working, but not on a better path: say why, so the user can fix it.
                self.lastFailure = "using the \(connection.pathKind) path; " + failures.joined(separator: "; ")
            }
            return connection
        }.flatMapErrorThrowing { error in
            guard case TunnelError.noPath(_, let attempts) = error else { throw error }
            let named = TunnelError.noPath(node: self.node, attempts: attempts)
            self.lastFailure = named.description
            throw named
        }
    }

    /// Takes an established connection (dialed or accepted) into use if it is better than the
    /// current one; otherwise keeps it until it is idle.
    func adopt(_ connection: TunnelConnection) {
        connections.append(connection)
        if current.map({ Self.isPreferred(connection, over: $0, localNode: tunnel.nodeName) }) ?? true {
            current = connection
        }
        connection.closed.whenComplete { _ in self.forget(connection) }
        // Beyond the limit the oldest not carrying new streams goes; `forget` removes it.
        let limit = max(1, tunnel.configuration.maximumConnectionsPerPeer)
        while connections.count > limit, let oldest = connections.first(where: { $0 !== current && $0.isEstablished }) {
            tunnel.connectionsClosedAtPeerLimit += 1
            oldest.fail("\(node) has more than \(limit) tunnel connections to this node; the oldest is closed")
            if connections.contains(where: { $0 === oldest }) { forget(oldest) }
        }
    }

    private func forget(_ connection: TunnelConnection) {
        guard let index = connections.firstIndex(where: { $0 === connection }) else { return }
        connections.remove(at: index)
        closedBytesSent += connection.bytesSent
        closedBytesReceived += connection.bytesReceived
        closedPacketsReceived += connection.packetsReceived
        if current === connection {
            lastFailure = "\(connection.pathKind) path closed: \(connection.closeReason ?? "the connection closed")"
            // Fall back to the best connection still open; none means the next stream dials.
            current = connections.reduce(nil) { best, candidate in
                best.map { Self.isPreferred(candidate, over: $0, localNode: tunnel.nodeName) ? candidate : $0 } ?? candidate
            }
        }
    }

    /// Periodic care: close connections no longer used, and try a better path when one may exist.
    func maintain(endpoint: TunnelEndpoint) {
        for connection in connections
        where connection !== current && connection.isInitiator && connection.multiplexer.openStreamCount == 0 {
            connection.fail("replaced by a better connection on the \(current?.pathKind.rawValue ?? "?") path")
        }
        guard let current, !upgrading, dialing == nil, tunnel.host.now >= nextUpgradeAt else { return }
        let better = tunnel.dialersInPreferenceOrder.filter { $0.kind < current.pathKind }
        guard !better.isEmpty else { return }
        upgrading = true
        dial(endpoint: endpoint, dialers: better).whenComplete { result in
            self.upgrading = false
            switch result {
            case .success:
                self.failedUpgrades = 0
            case .failure:
                self.failedUpgrades += 1
                let intervals = Int64(1 << min(self.failedUpgrades, 5))
                self.nextUpgradeAt = self.tunnel.host.now + self.tunnel.configuration.upgradeInterval * (intervals - 1)
                if let current = self.current {
                    // Still usable on the old path; say why the better one is not there.
                    self.lastFailure = "staying on the \(current.pathKind) path: \(self.lastFailure ?? "no better path")"
                }
            }
        }
    }

    var status: TunnelPeerStatus {
        var status = TunnelPeerStatus(
            node: node, path: current?.pathKind, roundTripTime: current?.roundTripTime,
            bytesSent: closedBytesSent + connections.reduce(0) { $0 + $1.bytesSent },
            bytesReceived: closedBytesReceived + connections.reduce(0) { $0 + $1.bytesReceived },
            openStreams: connections.reduce(0) { $0 + $1.multiplexer.openStreamCount },
            openConnections: connections.count,
            lastFailure: lastFailure)
        status.packets = packetCounters
        status.packets.received = closedPacketsReceived + connections.reduce(0) { $0 + $1.packetsReceived }
        if let session = current?.datagramSession, let endpoint = session.endpoint {
            status.datagramEndpoint = "\(endpoint)"
            status.datagramRoundTripTime = session.roundTripTime
        }
        return status
    }

    /// Whether `candidate`, established after `incumbent`, should carry new streams instead.
    static func isPreferred(_ candidate: TunnelConnection, over incumbent: TunnelConnection, localNode: String) -> Bool {
        if candidate.pathKind != incumbent.pathKind { return candidate.pathKind < incumbent.pathKind }
        return dialer(of: candidate, localNode: localNode) <= dialer(of: incumbent, localNode: localNode)
    }

    private static func dialer(of connection: TunnelConnection, localNode: String) -> String {
        connection.isInitiator ? localNode : connection.peerNode ?? ""
    }
}
