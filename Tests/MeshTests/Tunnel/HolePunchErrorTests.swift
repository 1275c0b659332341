import Mesh
import Testing

/// A failed punch is reported in `edgemesh status`: each reason must point at what to change.
@Suite struct HolePunchErrorTests {
    @Test func unknownMappingsAskForASecondRelayAndNameTheRouterResets() {
        let error = HolePunchError.noConnectionGotThrough(node: "edge-b", attempts: 3, local: .unknown, peer: .unknown)
        let text = "\(error)"
        #expect(text.contains("keep reservations on two"), "\(text)")
        #expect(text.contains("answers unsolicited SYNs with a reset"), "\(text)")
        #expect(!text.contains("one NAT maps per destination"), "\(text)")
        #expect(text.hasSuffix("staying relayed"))
    }

    @Test func aKnownSymmetricMappingIsNamed() {
        let error = HolePunchError.noConnectionGotThrough(node: "edge-b", attempts: 3, local: .endpointDependent, peer: .endpointIndependent)
        #expect("\(error)".contains("one NAT maps per destination (ours: endpoint-dependent"))
    }

    @Test func predictableMappingsPointAtAFirewall() {
        let error = HolePunchError.noConnectionGotThrough(node: "edge-b", attempts: 3, local: .endpointIndependent, peer: .noNAT)
        #expect("\(error)".contains("a firewall between the nodes may drop unsolicited SYNs"))
    }
}
