import Mesh
@testable import Scenario
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// Collects the datagrams a socket reads.
final class DatagramRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    var payloads: [String] = []
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        payloads.append(String(buffer: unwrapInboundIn(data).data))
    }
}

/// Pods on two nodes reach each other by pod IP through the agents' packet interfaces and the
/// tunnel between them, and a peer cannot use that path to reach what is not its business.
@Suite struct PodTrafficTests {
    static let s = Nanoseconds.second

    /// Two nodes, each with a pod network and a pod, their agents running the edge CNI, and
    /// the Node objects (tunnel keys, addresses, pod CIDRs) every agent would list. By default
    /// on one LAN; `behindNATs` puts each behind a home NAT of its own with a relay on the
    /// internet.
    final class Cluster {
        static let home = NATConfiguration(mapping: .endpointIndependent, filtering: .addressAndPortDependent)
        static let relayAddress = IPv4Address(203, 0, 113, 250)
        let sim: Simulator
        var agents: [String: EdgeAgent] = [:]
        var relay: RelayServer?

        init(behindNATs: Bool = false, configure: (inout TunnelConfiguration) -> Void = { _ in }) throws {
            let pods: [String: (IPv4Prefix, TopologySpec.Node.Pod)] = [
                "edge-1": (IPv4Prefix("10.244.1.0/24")!, .init(name: "pod-1")),
                "edge-2": (IPv4Prefix("10.244.2.0/24")!, .init(name: "pod-2")),
            ]
            let topology: TopologySpec
            if behindNATs {
                topology = TopologySpec(
                    networks: [
                        .init(name: "internet", subnet: IPv4Prefix("203.0.113.0/24")!),
                        .init(name: "lan-1", subnet: IPv4Prefix("192.168.1.0/24")!, router: "nat-1"),
                        .init(name: "lan-2", subnet: IPv4Prefix("192.168.2.0/24")!, router: "nat-2"),
                    ],
                    routers: [
                        .init(name: "nat-1", upstream: "internet", address: IPv4Address(203, 0, 113, 1), nat: Self.home,
                              link: LinkSpec(both: LinkProfile(latency: 10 * Nanoseconds.millisecond))),
                        .init(name: "nat-2", upstream: "internet", address: IPv4Address(203, 0, 113, 2), nat: Self.home,
                              link: LinkSpec(both: LinkProfile(latency: 10 * Nanoseconds.millisecond))),
                    ],
                    nodes: [
                        .init(name: "relay-1", network: "internet", address: Self.relayAddress),
                        .init(name: "edge-1", network: "lan-1", podNetwork: pods["edge-1"]!.0, pods: [pods["edge-1"]!.1]),
                        .init(name: "edge-2", network: "lan-2", podNetwork: pods["edge-2"]!.0, pods: [pods["edge-2"]!.1]),
                    ])
            } else {
                topology = TopologySpec(
                    networks: [.init(name: "lan", subnet: IPv4Prefix("192.168.1.0/24")!)],
                    nodes: [
                        .init(name: "edge-1", network: "lan", podNetwork: pods["edge-1"]!.0, pods: [pods["edge-1"]!.1]),
                        .init(name: "edge-2", network: "lan", podNetwork: pods["edge-2"]!.0, pods: [pods["edge-2"]!.1]),
                        // On the LAN, with no credentials: sees and sends what it likes.
                        .init(name: "mallory", network: "lan"),
                    ])
            }
            sim = try Simulator(seed: 5, topology: topology)
            let psk = try TunnelPresharedKey(secret: "psk")
            var relays: [SocketAddress] = []
            if behindNATs {
                let server = RelayServer(
                    host: sim.host(named: "relay-1")!,
                    configuration: RelayServerConfiguration(listenAddress: IPv4Address.any.socketAddress(port: 20008), presharedKey: psk.bytes))
                _ = server.start()
                relay = server
                relays = [Self.relayAddress.socketAddress(port: 20008)]
            }
            for name in ["edge-1", "edge-2"] {
                let host = sim.host(named: name)!
                var tunnel = TunnelConfiguration(presharedKey: psk, lanDiscovery: false)
                configure(&tunnel)
                configurations[name] = .init(
                    nodeName: name, listenAddress: host.address, tunnel: tunnel, relays: relays, edgeCNI: MeshCIDRConfiguration())
                let agent = try EdgeAgent(host: host, configuration: configurations[name]!)
                agents[name] = agent
                _ = agent.start()
            }
            sim.run(for: PodTrafficTests.s)
            for name in ["edge-1", "edge-2"] {
                let key = try #require(agents[name]?.tunnel?.identity?.publicKeyText)
                manifests["\(name).yaml"] = TunnelAgentTests.nodeManifest(
                    name, address: sim.host(named: name)!.address, key: key, podCIDR: pods[name]!.0)
            }
            for name in agents.keys.sorted() { #expect(agents[name]!.applyManifests(manifests).isEmpty) }
            sim.run(for: PodTrafficTests.s)
        }

        private var configurations: [String: EdgeAgent.Configuration] = [:]
        private var manifests: [String: String] = [:]

        /// Stops `name`'s agent and starts a new one on the same host (its durable store kept).
        func restart(_ name: String) throws {
            var stopped = false
            agents[name]!.stop().whenComplete { _ in stopped = true }
            _ = sim.run(until: sim.now + 10 * PodTrafficTests.s) { !stopped }
            let agent = try EdgeAgent(host: sim.host(named: name)!, configuration: configurations[name]!)
            agents[name] = agent
            _ = agent.start()
            sim.run(for: PodTrafficTests.s)
            #expect(agent.applyManifests(manifests).isEmpty)
        }

        /// `count` bytes from pod-1 to pod-2's TCP echo server and back; whether they all came back.
        func echo(_ count: Int, port: UInt16 = 8080) -> Bool {
            let client = sim.host(named: "pod-1")!, server = sim.host(named: "pod-2")!
            var message = ByteBuffer()
            for i in 0..<count { message.writeInteger(UInt8(truncatingIfNeeded: i)) }
            let sent = message
            let recorder = StreamRecorder()
            client.connectStream(StreamConnectOptions(remote: server.address.socketAddress(port: port))) { channel in
                channel.pipeline.addHandler(recorder)
            }.whenSuccess { $0.writeAndFlush(sent, promise: nil) }
            _ = sim.run(until: sim.now + 30 * PodTrafficTests.s) { recorder.byteCount < sent.readableBytes }
            return recorder.bytes == sent
        }

        func stop() {
            var stopped = 0
            for name in agents.keys.sorted() { agents[name]!.stop().whenComplete { _ in stopped += 1 } }
            _ = sim.run(until: sim.now + 10 * PodTrafficTests.s) { stopped < agents.count }
            relay?.stop()
            sim.run(for: 120 * PodTrafficTests.s)
        }
    }

    @Test func podsOnTwoNodesTalkTCPAndUDPByPodIP() throws {
        let cluster = try Cluster()
        let sim = cluster.sim
        let client = sim.host(named: "pod-1")!, server = sim.host(named: "pod-2")!
        #expect(cluster.agents["edge-1"]?.podNetworkRouter?.routes == [IPv4Prefix("10.244.2.0/24")!])
        TCPEchoServerWorkload.start(on: server, port: 8080)
        UDPEchoServerWorkload.start(on: server, port: 5353)

        var message = ByteBuffer()
        for i in 0..<50_000 { message.writeInteger(UInt8(truncatingIfNeeded: i)) }
        let sent = message
        let recorder = StreamRecorder()
        client.connectStream(StreamConnectOptions(remote: server.address.socketAddress(port: 8080))) { channel in
            channel.pipeline.addHandler(recorder)
        }.whenSuccess { $0.writeAndFlush(sent, promise: nil) }
        let datagrams = DatagramRecorder()
        client.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 0))) { channel in
            channel.pipeline.addHandler(datagrams)
        }.whenSuccess { channel in
            channel.writeAndFlush(AddressedEnvelope(
                remoteAddress: server.address.socketAddress(port: 5353), data: ByteBuffer(string: "ping by pod IP")), promise: nil)
        }
        _ = sim.run(until: sim.now + 20 * Self.s) { recorder.byteCount < sent.readableBytes || datagrams.payloads.isEmpty }
        #expect(recorder.bytes == sent)
        #expect(datagrams.payloads == ["ping by pod IP"])

        let peer = try #require(cluster.agents["edge-1"]?.tunnel?.peerStatuses().first)
        #expect(peer.node == "edge-2" && peer.path == .direct)
        // Neighbours on a LAN: the pod packets go as UDP datagrams to edge-2's tunnel port.
        #expect(peer.datagramEndpoint == "192.168.1.3:20006")
        #expect(peer.packets.sentAsDatagrams * 10 >= peer.packets.sent * 9, "\(peer.packets)")
        #expect(peer.packets.sent > 30 && peer.packets.received > 30 && peer.packets.dropped == 0)
        #expect(cluster.agents["edge-2"]?.podNetworkRouter?.counters.refused == 0)
        // What `edgemesh status` shows of it.
        let lines = cluster.agents["edge-1"]?.status().podNetworks ?? []
        #expect(lines.contains(
            "edge CNI: device edgemesh-pod0 (MTU 1400, no segmentation offload, 0 reads and 0 writes dropped), routes 10.244.2.0/24"),
            "\(lines)")
        #expect(lines.contains { $0.hasPrefix("pod packets: \(peer.packets.sent) sent to peers, ") }, "\(lines)")
        let tunnelText = cluster.agents["edge-1"]?.tunnel?.statusReport.text ?? ""
        #expect(tunnelText.contains("POD PACKETS OUT/IN/DROPPED"), "\(tunnelText)")
        #expect(tunnelText.contains("\(peer.packets.sent)/\(peer.packets.received)/0"), "\(tunnelText)")
        #expect(tunnelText.contains("udp 192.168.1.3:20006"), "\(tunnelText)")
        #expect(peer.bytesSent > 50_000 && peer.bytesReceived > 50_000, "the datagrams' bytes count too")
        cluster.stop()
    }

    /// Behind two home NATs with TCP punching off (EdgeMesh's `enableHolePunch: false`) the
    /// stream connection stays relayed; the datagram path still punches through both NATs, to
    /// the endpoints the relay reflected, so pod packets go node to node and not through the relay.
    @Test func behindTwoNATsPodPacketsPunchAUDPPathWhileTheStreamIsRelayed() throws {
        let cluster = try Cluster(behindNATs: true) { $0.holePunching = false }
        let sim = cluster.sim
        TCPEchoServerWorkload.start(on: sim.host(named: "pod-2")!, port: 8080)
        let echo = { cluster.echo($0) }
        #expect(echo(1_000), "the first exchange rides the relayed stream while the UDP path is probed")
        sim.run(for: 5 * Self.s)
        let relay = try #require(cluster.relay)
        let relayedBefore = relay.statistics.relayedBytes
        #expect(echo(200_000))

        let peer = try #require(cluster.agents["edge-1"]?.tunnel?.peerStatuses().first)
        #expect(peer.node == "edge-2" && peer.path == .relayed, "no TCP punch: the stream stays relayed")
        #expect(peer.datagramEndpoint == "203.0.113.2:20006", "edge-2's NAT mapping, as the relay saw it")
        #expect(cluster.agents["edge-1"]?.tunnel?.reflexiveDatagramEndpoints == [TunnelEndpointAddress(IPv4Address(203, 0, 113, 1), 20006)])
        #expect(relay.statistics.reflectionsAnswered >= 2)
        let tunnelText = cluster.agents["edge-1"]?.tunnel?.statusReport.text ?? ""
        #expect(tunnelText.contains("relays see UDP port 20006 at 203.0.113.1:20006"), "\(tunnelText)")
        #expect(tunnelText.contains("udp 203.0.113.2:20006"), "\(tunnelText)")
        #expect(relay.statistics.relayedBytes - relayedBefore < 20_000, "the pod traffic bypassed the relay")
        #expect(peer.packets.sentAsDatagrams > 100, "\(peer.packets)")
        cluster.stop()
    }

    /// The cloud (and its relay) goes away while two punched nodes' pods talk, and one agent
    /// restarts meanwhile: punching would need the relay, but both remember where the other's
    /// punch port was and rejoin there, so the pods keep talking by IP.
    @Test func punchedNodesRejoinWithoutTheRelayAfterAnAgentRestarts() throws {
        let cluster = try Cluster(behindNATs: true)
        let sim = cluster.sim
        TCPEchoServerWorkload.start(on: sim.host(named: "pod-2")!, port: 8080)
        #expect(cluster.echo(1_000))
        sim.run(for: 40 * Self.s)
        #expect(cluster.agents["edge-1"]?.tunnel?.peerStatuses().first?.path == .holePunched, "upgraded from the relay")

        cluster.relay?.stop()
        sim.run(for: 5 * Self.s)
        #expect(cluster.agents["edge-1"]?.relayClient?.observations.isEmpty == true, "no relay holds a reservation")
        try cluster.restart("edge-1")
        #expect(cluster.echo(50_000), "pods talk again with no relay in reach")
        let peer = try #require(cluster.agents["edge-1"]?.tunnel?.peerStatuses().first)
        #expect(peer.node == "edge-2" && peer.path == .holePunched, "\(peer)")

        // A rejoined connection is itself rejoined when it is lost, whichever side took it on
        // its punch port's listener: both agents restart in turn, still with no relay.
        for node in ["edge-1", "edge-2", "edge-1"] {
            try cluster.restart(node)
            #expect(cluster.echo(20_000), "pods talk again after \(node) restarted once more")
        }
        cluster.stop()
    }

    @Test func datagramsThatDoNotAuthenticateOrComeAgainAreDropped() throws {
        let cluster = try Cluster()
        let sim = cluster.sim
        let client = sim.host(named: "pod-1")!, server = sim.host(named: "pod-2")!
        UDPEchoServerWorkload.start(on: server, port: 5353)
        // What mallory sees on the LAN: every datagram to edge-2's tunnel port.
        var seen: [ByteBuffer] = []
        sim.node(named: "edge-2")!.capture = { packet, _ in
            if packet.transport == .udp, packet.destination.port == 20006, packet.payload.getInteger(at: 0, as: UInt8.self) == 4 {
                seen.append(packet.payload)
            }
        }
        let echoes = DatagramRecorder()
        var socket: Channel?
        client.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 0))) { channel in
            channel.pipeline.addHandler(echoes)
        }.whenSuccess { socket = $0 }
        for round in 0..<3 {
            sim.run(for: PodTrafficTests.s)
            socket?.writeAndFlush(AddressedEnvelope(
                remoteAddress: server.address.socketAddress(port: 5353), data: ByteBuffer(string: "echo \(round)")), promise: nil)
        }
        sim.run(for: PodTrafficTests.s)
        #expect(echoes.payloads == ["echo 0", "echo 1", "echo 2"])
        let router = try #require(cluster.agents["edge-2"]?.podNetworkRouter)
        let tunnel = try #require(cluster.agents["edge-2"]?.tunnel)
        let delivered = router.counters.delivered, rejected = tunnel.datagramsRejected
        let genuine = try #require(seen.last)

        var tampered = genuine
        tampered.setInteger(genuine.getInteger(at: genuine.writerIndex - 1, as: UInt8.self)! ^ 1, at: genuine.writerIndex - 1)
        var unknownSession = genuine
        unknownSession.setInteger(genuine.getInteger(at: 1, as: UInt32.self)! &+ 1, at: 1)
        let mallory = sim.host(named: "mallory")!
        mallory.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 40000))) { _ in
            mallory.eventLoop.makeSucceededVoidFuture()
        }.whenSuccess { channel in
            for datagram in [genuine, tampered, unknownSession, ByteBuffer(bytes: [4, 0, 0])] {
                channel.writeAndFlush(AddressedEnvelope(remoteAddress: IPv4Address(192, 168, 1, 3).socketAddress(port: 20006), data: datagram), promise: nil)
            }
        }
        sim.run(for: PodTrafficTests.s)
        #expect(router.counters.delivered == delivered, "nothing mallory sent reached a pod")
        #expect(tunnel.datagramsRejected == rejected + 4)
        #expect(echoes.payloads.count == 3)
        // The path still works, and did not move to mallory's address.
        let peer = try #require(tunnel.peerStatuses().first)
        #expect(peer.datagramEndpoint == "192.168.1.2:20006")
        cluster.stop()
    }

    @Test func aPeerCannotSpoofAnotherNodesPodsOrReachTheNodeItself() throws {
        let cluster = try Cluster()
        let sim = cluster.sim
        let node1 = sim.host(named: "edge-1")!, pod1 = sim.host(named: "pod-1")!
        let atPod = DatagramRecorder(), atNode = DatagramRecorder()
        _ = pod1.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 9))) { $0.pipeline.addHandler(atPod) }
        _ = node1.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 9))) { $0.pipeline.addHandler(atNode) }
        sim.run(for: Self.s)
        // edge-2's agent, holding edge-2's credentials, sends what a hostile node would.
        let hostile = try #require(cluster.agents["edge-2"]?.tunnel)
        let forged: [(from: IPv4Address, to: IPv4Address, payload: String)] = [
            (IPv4Address(10, 244, 1, 7), pod1.address, "as a pod of edge-1 itself"),
            (IPv4Address(192, 168, 1, 50), pod1.address, "as a LAN address"),
            (IPv4Address(10, 244, 2, 2), node1.address, "to the node, not a pod"),
            (IPv4Address(10, 244, 2, 2), pod1.address, "legitimate"),
        ]
        sim.host(named: "edge-2")!.eventLoop.execute {
            for packet in forged {
                let udp = Packet(
                    id: 1, transport: .udp, source: Endpoint(packet.from, 4000), destination: Endpoint(packet.to, 9),
                    payload: ByteBuffer(string: packet.payload), origin: NodeID(0))
                hostile.sendPacket(try! IPPacketCodec.encode(udp, allocator: ByteBufferAllocator()), to: "edge-1")
            }
            hostile.sendPacket(ByteBuffer(bytes: [0x45, 0, 0, 1, 2, 3]), to: "edge-1")
            hostile.flushPackets()
        }
        sim.run(for: 5 * Self.s)
        #expect(atPod.payloads == ["legitimate"])
        #expect(atNode.payloads.isEmpty)
        let counters = try #require(cluster.agents["edge-1"]?.podNetworkRouter?.counters)
        #expect(counters.refused == 3)
        #expect(counters.malformed == 1)
        #expect(counters.delivered == 1)
        cluster.stop()
    }
}
