import Mesh
import Testing

/// Every agent maps pod IPs to nodes the same way from the Node objects alone: the node's own
/// `spec.podCIDR`, else its annotation, else a block of EdgeMesh's `meshCIDRConfig` pools; no
/// address ever has two owners.
@Suite struct PodNetworkMapTests {
    static func node(_ name: String, podCIDRs: [String] = [], annotation: String? = nil, edge: Bool = false) -> Node {
        Node(
            metadata: ObjectMeta(
                name: name, labels: edge ? [MeshCIDRConfiguration.edgeNodeLabel: ""] : [:],
                annotations: annotation.map { [PodNetworkMap.annotation: $0] } ?? [:]),
            spec: Node.Spec(podCIDR: podCIDRs.first, podCIDRs: podCIDRs))
    }

    static func prefix(_ text: String) -> IPv4Prefix { IPv4Prefix(text)! }

    @Test func nodeSpecsMapPodAddressesToTheirNodes() throws {
        let node = try KubernetesDecoder.decode(Node.self, yaml: """
            apiVersion: v1
            kind: Node
            metadata: {name: edge-1}
            spec: {podCIDR: 10.244.1.0/24, podCIDRs: [10.244.1.0/24, "fd00:1::/64"]}
            """)
        #expect(node.podNetworks == [Self.prefix("10.244.1.0/24")], "IPv6 is left out")
        let map = PodNetworkMap(nodes: [node, Self.node("cloud-1", podCIDRs: ["10.244.0.0/24"])])
        #expect(map.node(owning: IPv4Address("10.244.1.17")!) == "edge-1")
        #expect(map.node(owning: IPv4Address("10.244.0.3")!) == "cloud-1")
        #expect(map.node(owning: IPv4Address("10.244.2.1")!) == nil)
        #expect(map.assignments.allSatisfy { $0.source == .nodeSpec })
    }

    @Test func anOverlappingNetworkIsRefusedNotShared() {
        let map = PodNetworkMap(nodes: [
            Self.node("b-node", podCIDRs: ["10.244.1.128/25"]),
            Self.node("a-node", podCIDRs: ["10.244.1.0/24"]),
            Self.node("c-node", annotation: "10.244.2.0/24, 10.244.1.0/26"),
        ])
        #expect(map.networks(of: "a-node") == [Self.prefix("10.244.1.0/24")])
        #expect(map.networks(of: "b-node").isEmpty, "the first name keeps it")
        #expect(map.networks(of: "c-node") == [Self.prefix("10.244.2.0/24")])
        #expect(map.conflicts.map { "\($0.node) \($0.network) held by \($0.heldBy)" } == [
            "b-node 10.244.1.128/25 held by a-node", "c-node 10.244.1.0/26 held by a-node",
        ])
        #expect(map.node(owning: IPv4Address("10.244.1.200")!) == "a-node")
    }

    @Test func nodesWithoutANetworkGetABlockOfTheirKindsPool() throws {
        let mesh = MeshCIDRConfiguration(
            cloudCIDRs: [Self.prefix("10.244.0.0/20")], edgeCIDRs: [Self.prefix("10.245.0.0/22"), Self.prefix("10.246.0.0/23")])
        let nodes = [Self.node("cloud-1"), Self.node("cloud-2")] + (1...5).map { Self.node("edge-\($0)", edge: true) }
            + [Self.node("edge-fixed", podCIDRs: ["10.245.1.0/24"], edge: true)]
        let map = PodNetworkMap(nodes: nodes, meshCIDRs: mesh)
        #expect(map.unassigned.isEmpty && map.conflicts.isEmpty)
        for name in ["cloud-1", "cloud-2"] {
            let networks = map.networks(of: name)
            #expect(networks.count == 1 && networks[0].length == 24 && mesh.cloudCIDRs[0].overlaps(networks[0]), "\(name): \(networks)")
        }
        let edgeBlocks = (1...5).flatMap { map.networks(of: "edge-\($0)") }
        #expect(edgeBlocks.count == 5 && Set(edgeBlocks).count == 5, "\(edgeBlocks)")
        #expect(edgeBlocks.allSatisfy { block in mesh.edgeCIDRs.contains { $0.overlaps(block) } })
        #expect(!edgeBlocks.contains(Self.prefix("10.245.1.0/24")), "a block held outright is skipped")
        #expect(PodNetworkMap(nodes: nodes.reversed(), meshCIDRs: mesh) == map, "every agent, whatever order it read the nodes in")
        // The edge pools hold six blocks, one taken outright: a sixth node without one waits, named.
        let full = PodNetworkMap(nodes: nodes + [Self.node("edge-6", edge: true)], meshCIDRs: mesh)
        #expect(full.unassigned == ["edge-6"], "\(full.unassigned)")
        #expect(PodNetworkMap(nodes: [Self.node("cloud-3")]).unassigned == ["cloud-3"], "no pool, no block")
    }

    @Test func aJoiningNodeLeavesTheOthersBlocksWhereTheyWere() {
        let mesh = MeshCIDRConfiguration(edgeCIDRs: [Self.prefix("10.240.0.0/12")])
        let before = PodNetworkMap(nodes: (1...40).map { Self.node("edge-\($0)", edge: true) }, meshCIDRs: mesh)
        let after = PodNetworkMap(nodes: (1...41).map { Self.node("edge-\($0)", edge: true) }, meshCIDRs: mesh)
        for index in 1...40 {
            #expect(after.networks(of: "edge-\(index)") == before.networks(of: "edge-\(index)"), "edge-\(index)")
        }
    }
}
