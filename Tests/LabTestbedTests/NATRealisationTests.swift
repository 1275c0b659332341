import NetworkTopology
import Testing

@testable import LabTestbed

@Suite("NAT realisation: each RFC 4787 setting Linux can express, and a refusal for the rest")
struct NATRealisationTests {
    @Test("a home NAT masquerades with ports kept and admits from the WAN only replies, forwarded or to itself")
    func homeNAT() throws {
        let realisation = try #require(NATRealisation(NATConfiguration(), wan: "wan"))
        #expect(realisation.ruleset.contains("oifname \"wan\" masquerade\n"))
        #expect(!realisation.ruleset.contains("random"))
        for chain in ["chain forward", "chain input"] {
            let body = try #require(realisation.ruleset.components(separatedBy: chain).last)
            #expect(body.contains("iifname \"wan\" ct state established,related accept"))
            #expect(body.contains("iifname \"wan\" drop"))
        }
        #expect(realisation.sysctls.isEmpty)
        #expect(realisation.notes == ["hairpinning is not realised (its own nodes reach each other on the LAN, not through its public address)"])
    }

    @Test("without an input filter the router's own stack sees unsolicited packets; forwarding is still filtered")
    func withoutInputFilter() throws {
        let realisation = try #require(NATRealisation(NATConfiguration(filtersInput: false), wan: "wan"))
        #expect(!realisation.ruleset.contains("chain input"))
        #expect(realisation.ruleset.contains("chain forward"))
        if LabMachine.canRun {
            // nft itself accepts both rulesets (checked, not applied).
            try LabShell.run(["nft", "-c", "-f", "-"], input: realisation.ruleset)
            try LabShell.run(["nft", "-c", "-f", "-"], input: try #require(NATRealisation(NATConfiguration(), wan: "wan")).ruleset)
        }
    }

    @Test("a symmetric NAT picks a random port per destination")
    func symmetricNAT() throws {
        let realisation = try #require(NATRealisation(NATConfiguration(mapping: .addressAndPortDependent, hairpinning: false), wan: "wan"))
        #expect(realisation.ruleset.contains("oifname \"wan\" masquerade random"))
        #expect(realisation.notes.isEmpty)
    }

    @Test("blocked UDP is dropped both ways through the WAN port; timeouts go to conntrack")
    func blockedUDPAndTimeouts() throws {
        let nat = NATConfiguration(hairpinning: false, udpMappingTimeout: 30 * Nanoseconds.second, blocksUDP: true)
        let realisation = try #require(NATRealisation(nat, wan: "wan"))
        #expect(realisation.ruleset.contains("meta l4proto udp iifname \"wan\" drop"))
        #expect(realisation.ruleset.contains("meta l4proto udp oifname \"wan\" drop"))
        #expect(realisation.sysctls.map(\.name) == ["net.netfilter.nf_conntrack_udp_timeout_stream"])
        #expect(realisation.sysctls.map(\.value) == ["30"])
    }

    @Test("filtering other than per address and port, and address-dependent mapping, are refused", arguments: [
        NATConfiguration(filtering: .endpointIndependent),
        NATConfiguration(filtering: .addressDependent),
        NATConfiguration(mapping: .addressDependent),
    ])
    func refusals(nat: NATConfiguration) {
        #expect(NATRealisation.refusal(for: nat) != nil)
        #expect(NATRealisation(nat, wan: "wan") == nil)
    }
}
