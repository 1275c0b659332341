import Mesh
import NetworkTopology
import Testing

@testable import NetSim

/// The agent keeps the map current as Node objects come and go, and `edgemesh status` lists it.
@Suite struct AgentPodNetworkTests {
    @Test func theStatusListsEachNodesPodNetworksAndFollowsTheTable() throws {
        let sim = try KubernetesAPITests.cloudAndEdge(loss: 0)
        let edge = try #require(sim.host(named: "edge-1"))
        let mesh = MeshCIDRConfiguration(edgeCIDRs: [IPv4Prefix("10.245.0.0/24")!])
        let agent = try EdgeAgent(host: edge, configuration: .init(nodeName: "edge-1", listenAddress: .loopback, edgeCNI: mesh))
        _ = agent.start()
        sim.run(until: Nanoseconds.second)
        let noTunnel = "edge CNI: the edge CNI needs the tunnel (--psk-file), which is off: pod packets go nowhere"
        #expect(agent.status().podNetworks == ["pod networks: none known", noTunnel])
        agent.table.apply(.upsert(.node(PodNetworkMapTests.node("cloud-1", podCIDRs: ["10.244.0.0/24"]))))
        agent.table.apply(.upsert(.node(PodNetworkMapTests.node("edge-1", edge: true))))
        agent.table.apply(.upsert(.node(PodNetworkMapTests.node("edge-2", edge: true))))
        #expect(agent.podNetworks.node(owning: IPv4Address("10.244.0.9")!) == "cloud-1")
        #expect(agent.status().podNetworks == [
            "pod network: cloud-1 10.244.0.0/24 (spec.podCIDR)",
            "pod network: edge-1 10.245.0.0/24 (meshCIDRConfig)",
            "no pod network (none named, no room in the pool): edge-2",
            noTunnel,
        ])
        agent.table.apply(.delete(.node(PodNetworkMapTests.node("edge-1", edge: true))))
        #expect(agent.podNetworks.networks(of: "edge-2") == [IPv4Prefix("10.245.0.0/24")!], "the freed block goes to the node waiting")
        let off = try EdgeAgent(host: edge, configuration: .init(nodeName: "edge-1", listenAddress: .loopback))
        #expect(off.status().podNetworks == nil, "nothing shown while the edge CNI is off")
        sim.run(until: 2 * Nanoseconds.second)
    }
}
