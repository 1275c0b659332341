import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// Collects the packets a packet interface reads.
final class PacketCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var packets: [ByteBuffer] = []
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        packets.append(unwrapInboundIn(data))
    }
}

/// Hands every packet one interface reads to another, as a tunnel between two nodes would.
final class PacketWire: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var far: Channel?
    var carried = 0
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        carried += 1
        far?.writeAndFlush(data, promise: nil)
    }
}

/// Pods on a node's own network behind it, and the node's packet interface: what the edge CNI
/// stands on in the simulator.
@Suite struct PacketInterfaceTests {
    /// Two nodes on a LAN, each with a pod network of its own and two pods on it.
    static func twoNodesWithPods() throws -> Simulator {
        try Simulator(
            seed: 1,
            topology: TopologySpec(
                networks: [.init(name: "lan", subnet: IPv4Prefix("192.168.1.0/24")!)],
                nodes: [
                    .init(name: "node-a", network: "lan", podNetwork: IPv4Prefix("10.244.1.0/24")!,
                          pods: [.init(name: "pod-a1"), .init(name: "pod-a2")]),
                    .init(name: "node-b", network: "lan", podNetwork: IPv4Prefix("10.244.2.0/24")!,
                          pods: [.init(name: "pod-b1")]),
                ]))
    }

    @Test func podsTakeAddressesFromTheirNodesPodNetworkAfterItsBridge() throws {
        let sim = try Self.twoNodesWithPods()
        #expect(sim.host(named: "pod-a1")?.address == IPv4Address(10, 244, 1, 2))
        #expect(sim.host(named: "pod-a2")?.address == IPv4Address(10, 244, 1, 3))
        #expect(sim.host(named: "pod-b1")?.address == IPv4Address(10, 244, 2, 2))
        let bridge = sim.host(named: "node-a")!.interfaces.first { $0.name == "cni0" }
        #expect(bridge?.ipv4Addresses == [IPv4Address(10, 244, 1, 1)])
    }

    @Test func aPodNetworkOverlappingAnotherNetworkIsRejected() {
        #expect(throws: TopologyError.self) {
            try Simulator(
                seed: 1,
                topology: TopologySpec(
                    networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/16")!)],
                    nodes: [.init(name: "node-a", network: "lan", podNetwork: IPv4Prefix("10.0.3.0/24")!)]))
        }
    }

    @Test func podsOfOneNodeAndTheNodeItselfReachEachOtherByPodIP() throws {
        let sim = try Self.twoNodesWithPods()
        let node = sim.host(named: "node-a")!, pod1 = sim.host(named: "pod-a1")!, pod2 = sim.host(named: "pod-a2")!
        _ = pod2.listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: 7))) { channel in
            channel.pipeline.addHandler(EchoBytesHandler())
        }
        let fromPod = CollectHandler(), fromNode = CollectHandler()
        for (client, collector) in [(pod1, fromPod), (node, fromNode)] {
            client.connectStream(StreamConnectOptions(remote: pod2.address.socketAddress(port: 7))) { channel in
                channel.pipeline.addHandler(collector)
            }.whenSuccess { $0.writeAndFlush(ByteBuffer(string: "hello \(client.name)"), promise: nil) }
        }
        sim.run(until: 5 * Nanoseconds.second)
        #expect(String(buffer: fromPod.received) == "hello pod-a1")
        #expect(String(buffer: fromNode.received) == "hello node-a")
    }

    @Test func aPodsPacketToARoutedPrefixIsReadAsIPv4BytesAndAWrittenPacketReachesThePod() throws {
        let sim = try Self.twoNodesWithPods()
        let node = sim.host(named: "node-a")!, pod = sim.host(named: "pod-a1")!
        let collector = PacketCollector()
        var interface: PacketInterface?
        node.openPacketInterface(PacketInterfaceOptions()) { $0.pipeline.addHandler(collector) }.whenSuccess { interface = $0 }
        sim.run(for: Nanoseconds.millisecond)
        _ = interface?.route([IPv4Prefix("10.244.2.0/24")!])
        let replies = ArrivalRecorder(simulator: sim)
        var socket: Channel?
        pod.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 5353))) {
            $0.pipeline.addHandler(replies)
        }.whenSuccess { socket = $0 }
        sim.run(for: Nanoseconds.millisecond)
        socket?.writeAndFlush(
            AddressedEnvelope(remoteAddress: IPv4Address(10, 244, 2, 9).socketAddress(port: 53), data: ByteBuffer(bytes: [0xAB, 0xCD])),
            promise: nil)
        sim.run(for: 10 * Nanoseconds.millisecond)

        try #require(collector.packets.count == 1)
        let packet = collector.packets[0]
        let header = try #require(IPv4PacketHeader(validating: packet))
        #expect(header.source == IPv4Address(10, 244, 1, 2))
        #expect(header.destination == IPv4Address(10, 244, 2, 9))
        #expect(header.transport == IPv4PacketHeader.TransportNumber.udp)
        #expect(header.timeToLive == 63, "the node forwarded it: one hop")
        // UDP: ports 5353 → 53, length 10, then the payload.
        #expect(Array(packet.readableBytesView.dropFirst(20).prefix(6)) == [0x14, 0xE9, 0x00, 0x35, 0x00, 0x0A])
        #expect(Array(packet.readableBytesView.suffix(2)) == [0xAB, 0xCD])

        // The answer, as a peer would send it back: the same packet turned around.
        interface?.channel.writeAndFlush(Self.udpPacket(
            from: IPv4Address(10, 244, 2, 9), 53, to: IPv4Address(10, 244, 1, 2), 5353, payload: [0x01]), promise: nil)
        sim.run(for: 10 * Nanoseconds.millisecond)
        #expect(replies.arrivals.map(\.sequence) == [0x01])
    }

    @Test func aTCPConnectionCrossesTwoPacketInterfacesJoinedByAWire() throws {
        let sim = try Self.twoNodesWithPods()
        let wireA = PacketWire(), wireB = PacketWire()
        var interfaces: [String: PacketInterface] = [:]
        for (name, wire) in [("node-a", wireA), ("node-b", wireB)] {
            sim.host(named: name)!.openPacketInterface(PacketInterfaceOptions()) { $0.pipeline.addHandler(wire) }
                .whenSuccess { interfaces[name] = $0 }
        }
        sim.run(for: Nanoseconds.millisecond)
        _ = interfaces["node-a"]?.route([IPv4Prefix("10.244.2.0/24")!])
        _ = interfaces["node-b"]?.route([IPv4Prefix("10.244.1.0/24")!])
        wireA.far = interfaces["node-b"]?.channel
        wireB.far = interfaces["node-a"]?.channel

        let server = sim.host(named: "pod-b1")!, client = sim.host(named: "pod-a1")!
        _ = server.listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: 7))) { channel in
            channel.pipeline.addHandler(EchoBytesHandler())
        }
        var message = ByteBuffer()
        for i in 0..<100_000 { message.writeInteger(UInt8(truncatingIfNeeded: i)) }
        let sent = message
        let collector = CollectHandler()
        client.connectStream(StreamConnectOptions(remote: server.address.socketAddress(port: 7))) { channel in
            channel.pipeline.addHandler(collector)
        }.whenSuccess { $0.writeAndFlush(sent, promise: nil) }
        sim.run(until: 20 * Nanoseconds.second) { collector.received.readableBytes < sent.readableBytes }
        #expect(collector.received == sent)
        #expect(wireA.carried > 10 && wireB.carried > 10)
    }

    @Test func aWrittenPacketForAnAddressBeyondTheNodeIsDroppedNotForwarded() throws {
        let sim = try Self.twoNodesWithPods()
        let node = sim.host(named: "node-a")!, neighbour = sim.host(named: "node-b")!
        let arrivals = ArrivalRecorder(simulator: sim)
        _ = neighbour.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 9))) {
            $0.pipeline.addHandler(arrivals)
        }
        var interface: PacketInterface?
        node.openPacketInterface(PacketInterfaceOptions()) { _ in node.eventLoop.makeSucceededVoidFuture() }
            .whenSuccess { interface = $0 }
        sim.run(for: Nanoseconds.millisecond)
        let dropsBefore = sim.droppedPackets
        // To a LAN neighbour: a device is not a way into the node's network.
        interface?.channel.writeAndFlush(Self.udpPacket(
            from: IPv4Address(10, 244, 2, 9), 53, to: neighbour.address, 9, payload: [0x07]), promise: nil)
        // Garbage, and a truncated header: dropped, nothing breaks.
        interface?.channel.writeAndFlush(ByteBuffer(bytes: [0x45, 0x00, 0x00]), promise: nil)
        interface?.channel.writeAndFlush(ByteBuffer(bytes: Array(repeating: 0xFF, count: 64)), promise: nil)
        sim.run(for: 10 * Nanoseconds.millisecond)
        #expect(arrivals.arrivals.isEmpty)
        #expect(sim.droppedPackets == dropsBefore + 3)
    }

    @Test func aRouteOverlappingTheNodesOwnNetworksIsRefused() throws {
        let sim = try Self.twoNodesWithPods()
        let node = sim.host(named: "node-a")!
        var outcome: Result<Void, Error>?
        node.openPacketInterface(PacketInterfaceOptions()) { _ in node.eventLoop.makeSucceededVoidFuture() }
            .flatMap { $0.route([IPv4Prefix("10.244.2.0/24")!, IPv4Prefix("192.168.0.0/16")!]) }
            .whenComplete { outcome = $0 }
        sim.run(for: Nanoseconds.millisecond)
        guard case .failure(HostError.routeRejected(let why)) = outcome else {
            Issue.record("expected the route to be refused, got \(String(describing: outcome))")
            return
        }
        #expect(why.contains("192.168.0.0/16"))
    }

    /// An IPv4/UDP packet as a TUN device would carry it.
    static func udpPacket(from source: IPv4Address, _ sourcePort: UInt16, to destination: IPv4Address, _ destinationPort: UInt16,
                          payload: [UInt8]) -> ByteBuffer {
        let packet = Packet(
            id: 1, transport: .udp, source: Endpoint(source, sourcePort), destination: Endpoint(destination, destinationPort),
            payload: ByteBuffer(bytes: payload), origin: NodeID(0))
        return try! IPPacketCodec.encode(packet, allocator: ByteBufferAllocator())
    }
}
