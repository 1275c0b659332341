import Mesh
import NIOCore
import NetworkTopology
@testable import Scenario
import Testing

@testable import NetSim

/// The node-name → key binding the tests control, standing in for the Node annotations.
final class TunnelTestKeys: PeerKeyDirectory, @unchecked Sendable {
    var keys: [String: [UInt8]] = [:]
    func publicKey(ofNode node: String) -> [UInt8]? { keys[node] }
}

/// Records what a tunnel stream delivers: each buffer (a datagram, for UDP streams), the end of
/// input, errors and the close.
final class StreamRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var buffers: [ByteBuffer] = []
    var inputClosed = false
    var closed = false
    var errors: [Error] = []

    var bytes: ByteBuffer {
        var all = ByteBuffer()
        for var buffer in buffers { all.writeBuffer(&buffer) }
        return all
    }
    /// Kept as a count: simulation loops test it after every event.
    private(set) var byteCount = 0
    var lostConnection: Bool {
        errors.contains { error in
            guard case TunnelError.connectionLost = error else { return false }
            return true
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        byteCount += buffer.readableBytes
        buffers.append(buffer)
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { inputClosed = true }
    }
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        errors.append(error)
    }
    func channelInactive(context: ChannelHandlerContext) {
        closed = true
    }
}

/// Nodes on one simulated LAN, each running a `MeshTunnel` (restarted on every boot) next to a
/// TCP echo and a UDP echo on port 7. Keys are bound as the agents would publish them.
final class TunnelTestBed: @unchecked Sendable {
    static let ms = Nanoseconds.millisecond
    static let s = Nanoseconds.second
    static let echoPort: UInt16 = 7

    let sim: Simulator
    let keys = TunnelTestKeys()
    private(set) var tunnels: [String: MeshTunnel] = [:]
    let addresses: [String: IPv4Address]
    /// Extra dialers per node, for tests that stand in for punched or relayed paths.
    var extraDialers: [String: [any PeerPathDialer]] = [:]
    /// Whether the direct dialer knows a node's address (tests turn direct paths off and on).
    var directReachable: Set<String>
    /// An address the direct dialer uses instead of the node's own (a stale Node address).
    var directAddressOverride: [String: IPv4Address] = [:]

    init(
        nodes: [String] = ["a", "b"], link: LinkSpec = LinkSpec(both: LinkProfile(latency: Nanoseconds.millisecond)),
        secrets: [String: String] = [:], configure: (inout TunnelConfiguration) -> Void = { _ in }
    ) throws {
        sim = try Simulator(
            seed: 1,
            topology: TopologySpec(
                networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/24")!)],
                nodes: nodes.map { .init(name: $0, network: "lan", link: link) }))
        var addresses: [String: IPv4Address] = [:]
        for node in nodes { addresses[node] = sim.host(named: node)!.address }
        self.addresses = addresses
        directReachable = Set(nodes)
        for node in nodes {
            var configuration = TunnelConfiguration(presharedKey: try TunnelPresharedKey(secret: secrets[node] ?? "cluster secret"))
            // The bed's servers are its targets: anything on the node itself (tests narrow it).
            configuration.targetPolicy = TunnelTargetPolicy { target, node in target.node == node ? nil : "not this node" }
            configure(&configuration)
            let fixed = configuration
            try sim.onBoot(of: node) { host in self.boot(host, configuration: fixed) }
        }
        sim.run(for: Self.s)
    }

    private func boot(_ host: SimHost, configuration: TunnelConfiguration) {
        let addresses = self.addresses
        let direct = DirectPathDialer(host: host, port: configuration.port) { [unowned self] node in
            guard self.directReachable.contains(node) else { return [] }
            return (self.directAddressOverride[node] ?? addresses[node]).map { [$0] } ?? []
        }
        let tunnel = MeshTunnel(host: host, configuration: configuration, keys: keys,
                                dialers: [direct] + (extraDialers[host.name] ?? []))
        tunnels[host.name] = tunnel
        tunnel.start().whenSuccess {
            // The agent publishes its key; a test that binds another key overrides it afterwards.
            if self.keys.keys[host.name] == nil { self.keys.keys[host.name] = tunnel.identity!.keyPair.publicKey }
        }
        // The echo closes when its input ends, as most servers do.
        TCPEchoServerWorkload.start(on: host, port: Self.echoPort)
        UDPEchoServerWorkload.start(on: host, port: Self.echoPort)
    }

    func tunnel(_ node: String) -> MeshTunnel { tunnels[node]! }

    func target(_ node: String, port: UInt16 = echoPort, _ transport: TransportProtocol = .tcp) -> TunnelTarget {
        TunnelTarget(node: node, address: addresses[node]!, port: port, transport: transport)
    }

    /// Opens a stream from `node` with a recorder in its pipeline; runs the simulation until the
    /// open completes (or 30 virtual seconds pass).
    func open(from node: String, to target: TunnelTarget) -> (Result<Channel, Error>?, StreamRecorder) {
        let recorder = StreamRecorder()
        var outcome: Result<Channel, Error>?
        let tunnel = tunnel(node)
        tunnel.openStream(to: target, on: tunnel.host.eventLoop).flatMapThrowing { channel -> Channel in
            try channel.pipeline.syncOperations.addHandler(recorder)
            return channel
        }.whenComplete { outcome = $0 }
        _ = sim.run(until: sim.now + 30 * Self.s) { outcome == nil }
        return (outcome, recorder)
    }

    /// Opens a stream and requires it to succeed.
    func openChannel(from node: String, to target: TunnelTarget) throws -> (Channel, StreamRecorder) {
        let (outcome, recorder) = open(from: node, to: target)
        let result = try #require(outcome)
        return (try result.get(), recorder)
    }

    /// Runs until `condition` is false or `limit` virtual nanoseconds pass.
    func run(for limit: UInt64, while condition: () -> Bool) {
        _ = sim.run(until: sim.now + limit, while: condition)
    }

    func status(of node: String, peer: String) -> TunnelPeerStatus? {
        tunnel(node).peerStatuses().first { $0.node == peer }
    }
}

extension ByteBuffer {
    /// `count` bytes of a repeating pattern, so a reordered or lost chunk shows.
    static func pattern(_ count: Int) -> ByteBuffer {
        // Filled through a raw buffer: byte-by-byte ByteBuffer writes are slow in debug builds.
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
            for index in 0..<count { storage[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 8) }
            initialized = count
        }
        return ByteBuffer(bytes: bytes)
    }
}
