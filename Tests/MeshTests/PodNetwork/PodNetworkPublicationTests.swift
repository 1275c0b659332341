import Mesh
import NetworkTopology
import Testing

@testable import NetSim

/// An allocated block is pinned: once the agent has every node listed, it writes its block to its
/// own Node's `edgemesh.io/pod-cidr`, so a node that joins later cannot move it.
@Suite struct PodNetworkPublicationTests {
    @Test func theAgentPinsItsAllocatedBlockOnItsNodeOnceSynced() throws {
        let bed = try KubernetesPatchTests.bed()
        let edgeNode = #"{"metadata":{"name":"edge-1","labels":{"node-role.kubernetes.io/edge":""}}}"#
        let cloudNode = #"{"metadata":{"name":"cloud-1"},"spec":{"podCIDR":"10.244.0.0/24"}}"#
        try bed.server.create(.nodes, json: Array(edgeNode.utf8))
        try bed.server.create(.nodes, json: Array(cloudNode.utf8))
        let mesh = MeshCIDRConfiguration(edgeCIDRs: [IPv4Prefix("10.245.0.0/20")!])
        let agent = try EdgeAgent(host: bed.edge, configuration: .init(nodeName: "edge-1", listenAddress: .loopback, edgeCNI: mesh))
        _ = agent.start()
        agent.follow(bed.client)
        let allocated = PodNetworkMap(
            nodes: [PodNetworkMapTests.node("edge-1", edge: true), PodNetworkMapTests.node("cloud-1", podCIDRs: ["10.244.0.0/24"])],
            meshCIDRs: mesh
        ).networks(of: "edge-1")
        #expect(allocated.count == 1)
        let pinned = bed.sim.run(until: bed.sim.now + 30 * Nanoseconds.second) {
            agent.podNetworks.assignments.first { $0.node == "edge-1" }?.source != .annotation
        }
        #expect(pinned, "\(String(describing: agent.podNetworkPublisher?.state))")
        let stored = try KubernetesPatchTests.stored(bed.server, "edge-1")
        #expect(stored.metadata.annotations[PodNetworkMap.annotation] == allocated.first?.description)
        #expect(agent.status().podNetworks?.contains("pod network: edge-1 \(allocated[0]) (edgemesh.io/pod-cidr)") == true,
                "\(agent.status().podNetworks ?? [])")
        let patches = bed.server.requests.filter { $0.method == .PATCH }.count
        #expect(patches == 1, "one patch, the pod network's (this agent runs no tunnel), not one per table change")
        bed.sim.run(for: Nanoseconds.second)
    }
}
