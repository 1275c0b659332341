import Foundation

/// The tunnel's state as `edgemesh status` shows it: part of the agent's `GET /status`, and
/// alone at `GET /tunnel/status`.
public struct TunnelStatusReport: Codable, Equatable, Sendable {
    public struct Peer: Codable, Equatable, Sendable {
        public var node: String
        /// "direct", "hole-punched", "relayed", or nil while not connected.
        public var path: String?
        public var rttMilliseconds: Double?
        public var bytesSent: UInt64
        public var bytesReceived: UInt64
        public var openStreams: Int
        /// Absent in reports of agents from before the per-peer limit.
        public var openConnections: Int?
        public var lastFailure: String?
        /// Pod-network packets (the edge CNI) to and from the peer, and those dropped on the way
        /// out; absent while none were carried, and in reports of agents before the edge CNI.
        public var packetsSent: UInt64?
        public var packetsReceived: UInt64?
        public var packetsDropped: UInt64?
        /// Where pod packets go as UDP datagrams, while that path is up, and its round trip.
        public var datagramEndpoint: String?
        public var datagramRttMilliseconds: Double?

        public init(_ status: TunnelPeerStatus) {
            node = status.node
            path = status.path?.rawValue
            rttMilliseconds = status.roundTripTime.map { Double($0.nanoseconds) / 1_000_000 }
            bytesSent = status.bytesSent
            bytesReceived = status.bytesReceived
            openStreams = status.openStreams
            openConnections = status.openConnections
            lastFailure = status.lastFailure
            if status.packets != TunnelPeerStatus.PacketCounters() {
                packetsSent = status.packets.sent
                packetsReceived = status.packets.received
                packetsDropped = status.packets.dropped
            }
            datagramEndpoint = status.datagramEndpoint
            datagramRttMilliseconds = status.datagramRoundTripTime.map { Double($0.nanoseconds) / 1_000_000 }
        }
    }

    /// What the connection limits (`TunnelConfiguration`) turned away so far.
    public struct Limits: Codable, Equatable, Sendable {
        /// Handshakes under way on connections peers opened, now.
        public var pendingHandshakes: Int
        /// Connections closed at once because too many handshakes were under way.
        public var handshakesRefused: UInt64
        /// Established connections closed because their peer had too many.
        public var connectionsClosedAtPeerLimit: UInt64
        /// Bytes of the receive budget open streams hold, and streams refused with it spent.
        public var receiveBudgetInUse: Int
        public var streamsRefusedOverBudget: UInt64
    }

    public var node: String
    public var publicKey: String?
    public var port: UInt16
    public var peers: [Peer]
    /// Absent in reports of agents from before the limits.
    public var limits: Limits?
    /// The sockets listened on ("port 20006" for every address, else "address:port"), then
    /// each address left out and each socket that could not be opened, with why. Absent in
    /// reports of agents from before multi-NIC listening.
    public var listening: [String]?
    public var notListening: [String]?
    /// The tunnel's UDP port as the relays see it (the endpoints offered to peers behind other
    /// NATs for the datagram path); absent without relays and in reports of older agents.
    public var reflexiveDatagramEndpoints: [String]?

    public init(
        node: String, publicKey: String?, port: UInt16, peers: [Peer], limits: Limits? = nil, listening: [String]? = nil,
        notListening: [String]? = nil, reflexiveDatagramEndpoints: [String]? = nil
    ) {
        self.reflexiveDatagramEndpoints = reflexiveDatagramEndpoints
        self.node = node
        self.publicKey = publicKey
        self.port = port
        self.peers = peers
        self.limits = limits
        self.listening = listening
        self.notListening = notListening
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data) throws -> TunnelStatusReport {
        try JSONDecoder().decode(TunnelStatusReport.self, from: data)
    }

    /// A table for people: one line per peer.
    public var text: String {
        var lines = ["node \(node)  tunnel port \(port)  key \(publicKey ?? "(not started)")"]
        if let listening { lines.append("listening on \(listening.isEmpty ? "nothing" : listening.joined(separator: ", "))") }
        lines += notListening ?? []
        if let reflexive = reflexiveDatagramEndpoints, !reflexive.isEmpty {
            lines.append("relays see UDP port \(port) at \(reflexive.joined(separator: ", "))")
        }
        if peers.isEmpty { lines.append("no peers yet") }
        // Pod packets get a column only where the edge CNI carried some.
        let showsPackets = peers.contains { $0.packetsSent != nil }
        let header = ["PEER", "PATH", "RTT", "SENT", "RECEIVED", "STREAMS"] + (showsPackets ? ["POD PACKETS OUT/IN/DROPPED", "VIA"] : [])
        var rows = [header]
        for peer in peers {
            let packets = "\(peer.packetsSent ?? 0)/\(peer.packetsReceived ?? 0)/\(peer.packetsDropped ?? 0)"
            rows.append([
                peer.node, peer.path ?? "down", peer.rttMilliseconds.map { String(format: "%.1f ms", $0) } ?? "-",
                Self.bytes(peer.bytesSent), Self.bytes(peer.bytesReceived), "\(peer.openStreams)",
            ] + (showsPackets ? [packets, Self.via(peer)] : []))
        }
        if !peers.isEmpty {
            let widths = header.indices.map { column in rows.map { $0[column].count }.max()! }
            for row in rows {
                lines.append(row.enumerated().map { $1.padding(toLength: widths[$0] + 2, withPad: " ", startingAt: 0) }.joined()
                    .trimmingCharacters(in: .whitespaces))
            }
        }
        for peer in peers {
            if let failure = peer.lastFailure { lines.append("\(peer.node): \(failure)") }
        }
        if let limits, limits.handshakesRefused > 0 || limits.connectionsClosedAtPeerLimit > 0 || limits.streamsRefusedOverBudget > 0 {
            lines.append(
                "limits: \(limits.handshakesRefused) connections refused with too many handshakes under way "
                    + "(\(limits.pendingHandshakes) now); \(limits.connectionsClosedAtPeerLimit) closed over a peer's connection limit; "
                    + "\(limits.streamsRefusedOverBudget) streams refused over the receive budget (\(Self.bytes(UInt64(limits.receiveBudgetInUse))) in use)")
        }
        return lines.joined(separator: "\n")
    }

    /// How pod packets reach the peer: "udp ENDPOINT (RTT)" while the datagram path is up,
    /// else the connection's stream.
    private static func via(_ peer: Peer) -> String {
        guard let endpoint = peer.datagramEndpoint else { return "stream" }
        return "udp \(endpoint)" + (peer.datagramRttMilliseconds.map { String(format: " (%.1f ms)", $0) } ?? "")
    }

    private static func bytes(_ count: UInt64) -> String {
        if count >= 1 << 20 { return String(format: "%.1f MiB", Double(count) / 1_048_576) }
        if count >= 1 << 10 { return String(format: "%.1f KiB", Double(count) / 1024) }
        return "\(count) B"
    }
}

extension MeshTunnel {
    /// The report the agent's status endpoint serves.
    public var statusReport: TunnelStatusReport {
        TunnelStatusReport(
            node: host.name, publicKey: identity?.publicKeyText, port: configuration.port,
            peers: peerStatuses().map(TunnelStatusReport.Peer.init),
            limits: .init(
                pendingHandshakes: pendingHandshakes, handshakesRefused: handshakesRefusedAtLimit,
                connectionsClosedAtPeerLimit: connectionsClosedAtPeerLimit, receiveBudgetInUse: receiveBudgetInUse,
                streamsRefusedOverBudget: streamsRefusedOverBudget),
            listening: listeningStatus.sockets,
            notListening: addressChoices.filter { $0.leftOutBecause != nil }.map(\.description) + listeningStatus.problems,
            reflexiveDatagramEndpoints: reflexiveDatagramEndpoints.isEmpty ? nil : reflexiveDatagramEndpoints.map(\.description))
    }
}
