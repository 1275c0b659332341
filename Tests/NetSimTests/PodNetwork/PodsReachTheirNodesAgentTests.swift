import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// What a pod needs from its node to use the cluster: the agent's link-local address (its DNS)
/// through the pod's gateway, and cluster IPs intercepted as the pod's packets enter the node
/// (nftables `prerouting`), answered as if the service had.
@Suite struct PodsReachTheirNodesAgentTests {
    static let linkLocal = IPv4Address(169, 254, 96, 16)
    static let clusterIP = IPv4Address(10, 96, 0, 1)

    @Test func aPodReachesItsNodesDeviceAddressAndNoOneElseDoes() throws {
        let sim = try PacketInterfaceTests.twoNodesWithPods()
        try sim.addDeviceAddress(Self.linkLocal, device: "edgemesh0", toNode: "node-a")
        let node = sim.host(named: "node-a")!
        #expect(node.interfaces.contains { $0.name == "edgemesh0" && $0.ipv4Addresses == [Self.linkLocal] })
        _ = node.listenStream(StreamListenOptions(address: Self.linkLocal.socketAddress(port: 53))) { channel in
            channel.pipeline.addHandler(EchoBytesHandler())
        }
        var answered: [String: String] = [:]
        var refused: [String: Bool] = [:]
        for client in ["pod-a1", "node-a", "pod-b1", "node-b"] {
            let collector = CollectHandler()
            sim.host(named: client)!.connectStream(StreamConnectOptions(remote: Self.linkLocal.socketAddress(port: 53), connectTimeout: .seconds(2))) {
                channel in channel.pipeline.addHandler(collector)
            }.whenComplete { result in
                switch result {
                case .success(let channel): channel.writeAndFlush(ByteBuffer(string: "query from \(client)"), promise: nil)
                case .failure: refused[client] = true
                }
            }
            sim.run(until: sim.now + 5 * Nanoseconds.second)
            answered[client] = String(buffer: collector.received)
        }
        #expect(answered["pod-a1"] == "query from pod-a1", "through its gateway")
        #expect(answered["node-a"] == "query from node-a")
        #expect(refused["pod-b1"] == true, "another node's pod has no way to it")
        #expect(refused["node-b"] == true, "nor has a LAN neighbour: no network is attached to the device")
    }

    @Test func theDeviceIsGoneAfterAPowerLossUntilItIsMadeAgain() throws {
        let sim = try PacketInterfaceTests.twoNodesWithPods()
        try sim.addDeviceAddress(Self.linkLocal, device: "edgemesh0", toNode: "node-a")
        try sim.crash("node-a")
        try sim.boot("node-a")
        #expect(sim.host(named: "node-a")!.interfaces.allSatisfy { $0.name != "edgemesh0" })
        try sim.addDeviceAddress(Self.linkLocal, device: "edgemesh0", toNode: "node-a")
        #expect(throws: TopologyError.self) { try sim.addDeviceAddress(Self.linkLocal, device: "edgemesh0", toNode: "node-a") }
    }

    @Test func aPodsConnectionToAnInterceptedClusterIPGoesToItsNodesAgentAndIsAnsweredAsTheService() throws {
        let sim = try PacketInterfaceTests.twoNodesWithPods()
        let node = sim.host(named: "node-a")!, pod = sim.host(named: "pod-a1")!
        var original: SocketAddress?
        _ = node.listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: 15001))) { channel in
            node.originalDestination(of: channel).whenSuccess { original = $0 }
            return channel.pipeline.addHandler(EchoBytesHandler())
        }
        _ = node.interception.apply([
            InterceptionRule(transport: .tcp, serviceAddress: Self.clusterIP, servicePort: 80, localPort: 15001)
        ])
        sim.run(until: sim.now + Nanoseconds.second)
        let collector = CollectHandler()
        var remote: SocketAddress?
        pod.connectStream(StreamConnectOptions(remote: Self.clusterIP.socketAddress(port: 80))) { channel in
            channel.pipeline.addHandler(collector)
        }.whenSuccess { channel in
            remote = channel.remoteAddress
            channel.writeAndFlush(ByteBuffer(string: "GET / from a pod"), promise: nil)
        }
        sim.run(until: sim.now + 5 * Nanoseconds.second)
        #expect(String(buffer: collector.received) == "GET / from a pod")
        #expect(remote == Self.clusterIP.socketAddress(port: 80), "the pod talks to the service's address throughout")
        #expect(original == Self.clusterIP.socketAddress(port: 80), "the agent learns which service the pod dialled")
    }
}
