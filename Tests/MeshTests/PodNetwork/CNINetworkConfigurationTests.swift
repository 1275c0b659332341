import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// The CNI network configuration the agent gives the node's container runtime.
@Suite struct CNINetworkConfigurationTests {
    @Test func theBridgePluginGetsThePodNetworkItsGatewayAndTheTunnelMTU() {
        let configuration = CNINetworkConfiguration(podNetworks: [IPv4Prefix("10.244.7.0/24")!], mtu: 1400)
        #expect(configuration.conflist == """
            {
              "cniVersion": "1.0.0",
              "name": "edgemesh",
              "plugins": [
                {
                  "type": "bridge",
                  "bridge": "cni0",
                  "isGateway": true,
                  "ipMasq": false,
                  "hairpinMode": true,
                  "mtu": 1400,
                  "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "10.244.7.0/24", "gateway": "10.244.7.1"}]],
                    "routes": [{"dst": "0.0.0.0/0"}]
                  }
                }
              ]
            }

            """)
    }

    @Test func theAgentWritesItOnceItsPodNetworkIsKnownAndAgainWhenItChanges() throws {
        let sim = try KubernetesAPITests.cloudAndEdge(loss: 0)
        let edge = try #require(sim.host(named: "edge-1"))
        let agent = try EdgeAgent(
            host: edge, configuration: .init(nodeName: "edge-1", listenAddress: .loopback, edgeCNI: MeshCIDRConfiguration()))
        _ = agent.start()
        sim.run(until: Nanoseconds.second)
        let directory = SimDurableStore(loop: edge.eventLoop)
        agent.writeCNIConfiguration(to: directory)
        func written() -> String? {
            var contents: String??
            directory.load(CNINetworkConfiguration.fileName).whenSuccess { contents = $0.map { String(buffer: $0) } }
            sim.run(for: Nanoseconds.millisecond)
            return contents ?? nil
        }
        #expect(written() == nil, "nothing while the node's pod network is unknown")
        agent.table.apply(.upsert(.node(PodNetworkMapTests.node("edge-1", podCIDRs: ["10.244.7.0/24"]))))
        sim.run(for: Nanoseconds.millisecond)
        #expect(written()?.contains(#"[[{"subnet": "10.244.7.0/24", "gateway": "10.244.7.1"}]]"#) == true)
        agent.table.apply(.upsert(.node(PodNetworkMapTests.node("edge-1", podCIDRs: ["10.244.9.0/24"]))))
        sim.run(for: Nanoseconds.millisecond)
        #expect(written()?.contains(#""subnet": "10.244.9.0/24""#) == true)
        agent.table.apply(.delete(.node(PodNetworkMapTests.node("edge-1"))))
        sim.run(for: Nanoseconds.millisecond)
        #expect(written()?.contains(#""subnet": "10.244.9.0/24""#) == true, "kept while the Node is away")
        // Stopped, so no timer of the agent's outlives the simulation.
        var stopped = false
        agent.stop().whenComplete { _ in stopped = true }
        _ = sim.run(until: sim.now + 10 * Nanoseconds.second) { !stopped }
        sim.run(for: 60 * Nanoseconds.second)
    }
}
