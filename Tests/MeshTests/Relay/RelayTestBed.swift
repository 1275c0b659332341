@testable import Mesh
@testable import Scenario
import NIOCore
import Testing

@testable import NetSim
import NetworkTopology

/// Relays and agents on a simulated topology, with what each agent accepted: every accepted
/// peer stream echoes what it reads, so a dialer can check a round trip. Used only on the
/// simulation thread.
final class RelayTestBed: @unchecked Sendable {
    static let ms = Nanoseconds.millisecond
    static let s = Nanoseconds.second
    static let psk = [UInt8](repeating: 0x5A, count: 32)
    static let relayPort: UInt16 = 20008

    let sim: Simulator
    private(set) var relays: [String: RelayServer] = [:]
    private(set) var clients: [String: RelayClient] = [:]
    private(set) var punchers: [String: HolePunchService] = [:]
    /// Per agent, the kinds of the streams it accepted, in order.
    private(set) var accepted: [String: [PeerPathKind]] = [:]
    var relayAddresses: [SocketAddress] = []
    var clientConfiguration: (RelayClientConfiguration) -> RelayClientConfiguration = { $0 }

    init(topology: TopologySpec, seed: UInt64 = 1) throws {
        sim = try Simulator(seed: seed, topology: topology)
    }

    /// The internet, two public relays (`relay-1`, `relay-2`) and one LAN per agent behind its
    /// own NAT (`nil`: the agent sits on the internet itself).
    static func topology(
        agents: [(name: String, nat: NATConfiguration?, outer: NATConfiguration?)], wanLatency: UInt64 = 10 * ms,
        wan: LinkProfile? = nil
    ) -> TopologySpec {
        var networks: [TopologySpec.Network] = [.init(name: "internet", subnet: IPv4Prefix("203.0.113.0/24")!)]
        var routers: [TopologySpec.Router] = []
        var nodes: [TopologySpec.Node] = [
            .init(name: "relay-1", network: "internet", address: IPv4Address(203, 0, 113, 250)),
            .init(name: "relay-2", network: "internet", address: IPv4Address(203, 0, 113, 251)),
        ]
        let wan = LinkSpec(both: wan ?? LinkProfile(latency: wanLatency))
        for (index, agent) in agents.enumerated() {
            guard let nat = agent.nat else {
                nodes.append(.init(name: agent.name, network: "internet", link: wan))
                continue
            }
            var upstream = "internet"
            if let outer = agent.outer {
                networks.append(.init(name: "carrier-\(agent.name)", subnet: IPv4Prefix("100.64.\(index).0/24")!, router: "cgnat-\(agent.name)"))
                routers.append(.init(name: "cgnat-\(agent.name)", upstream: "internet", nat: outer, link: wan))
                upstream = "carrier-\(agent.name)"
            }
            networks.append(.init(name: "lan-\(agent.name)", subnet: IPv4Prefix("192.168.\(index).0/24")!, router: "nat-\(agent.name)"))
            routers.append(.init(name: "nat-\(agent.name)", upstream: upstream, nat: nat, link: agent.outer == nil ? wan : .ideal))
            nodes.append(.init(name: agent.name, network: "lan-\(agent.name)"))
        }
        return TopologySpec(networks: networks, routers: routers, nodes: nodes)
    }

    func startRelay(
        _ name: String, clusterKeys: (any PeerKeyDirectory)? = nil, configure: (inout RelayServerConfiguration) -> Void = { _ in }
    ) throws {
        let host = try require(name)
        var configuration = RelayServerConfiguration(
            listenAddress: IPv4Address.any.socketAddress(port: Self.relayPort), presharedKey: Self.psk)
        configure(&configuration)
        try sim.onBoot(of: name) { [self] host in
            let server = RelayServer(host: host, configuration: configuration, clusterKeys: clusterKeys)
            relays[name] = server
            _ = server.start()
        }
        relayAddresses.append(host.address.socketAddress(port: Self.relayPort))
    }

    /// Asks the first relay, from `node`, for a reservation under `name` with `key` (as any PSK
    /// holder can); the relay's answer, or nil when none came within 5 s.
    func reserve(as name: String, key: NoiseKeyPair, from node: String) throws -> RelayMessage? {
        let host = try require(node)
        var answer: RelayMessage?
        let session = try RelayControlSession(
            role: .initiator, staticKey: key, presharedKey: Self.psk, localName: name, random: host.random,
            handshakeTimeout: .seconds(10),
            callbacks: .init(
                authenticated: { _, _, _ in },
                received: { _, message in if answer == nil { answer = message } },
                closed: { _, _ in }))
        host.connectStream(StreamConnectOptions(remote: relayAddresses[0])) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RelayFrameDecoder()))
                try channel.pipeline.syncOperations.addHandler(session)
            }
        }.whenFailure { Issue.record("connecting to the relay: \($0)") }
        sim.run(until: sim.now + 5 * Self.s)
        return answer
    }

    func startAgent(_ name: String, psk: [UInt8] = RelayTestBed.psk, relays: [SocketAddress]? = nil) throws {
        let host = try require(name)
        var random = host.random
        let key = NoiseKeyPair.generate(using: &random)
        let configuration = clientConfiguration(RelayClientConfiguration(relays: relays ?? relayAddresses, presharedKey: psk))
        let acceptor: PeerStreamAcceptor = { [self] channel, kind in
            accepted[name, default: []].append(kind)
            _ = channel.pipeline.addHandler(StreamEchoHandler())
        }
        let client = RelayClient(host: host, configuration: configuration, staticKey: key, acceptor: acceptor)
        let puncher = HolePunchService(host: host, client: client, acceptor: acceptor)
        clients[name] = client
        punchers[name] = puncher
        _ = puncher.start()
        client.start()
    }

    func client(_ name: String) -> RelayClient { clients[name]! }

    /// Dials with `dialer`, sends `payload`, and returns what came back (the far agent echoes)
    /// and the virtual time the dial took, or the dial's error.
    func roundTrip(_ dial: () -> EventLoopFuture<Channel>, payload: ByteBuffer, within limit: UInt64 = 40 * s)
        -> (Result<ByteBuffer, Error>, dialTime: UInt64)
    {
        let started = sim.now
        var outcome: Result<Channel, Error>?
        var dialedAt = sim.now
        dial().whenComplete { result in
            outcome = result
            dialedAt = self.sim.now
        }
        _ = sim.run(until: sim.now + limit) { outcome == nil }
        guard case .success(let channel) = outcome else {
            if case .failure(let error) = outcome { return (.failure(error), dialedAt - started) }
            return (.failure(DialDidNotFinish()), dialedAt - started)
        }
        let collector = StreamRecorder()
        _ = channel.pipeline.addHandler(collector)
        channel.writeAndFlush(payload, promise: nil)
        _ = sim.run(until: sim.now + limit) { collector.byteCount < payload.readableBytes }
        channel.close(promise: nil)
        sim.run(for: 100 * Self.ms)
        return (.success(collector.bytes), dialedAt - started)
    }

    private func require(_ name: String) throws -> SimHost {
        guard let host = sim.host(named: name) else { throw TopologyError("no node \(name)") }
        return host
    }
}

struct DialDidNotFinish: Error, CustomStringConvertible {
    var description: String { "the dial neither succeeded nor failed in time" }
}
