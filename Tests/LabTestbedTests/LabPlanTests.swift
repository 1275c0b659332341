import Foundation
import NetworkTopology
import Scenario
import TestFixtures
import Testing

@testable import LabTestbed

@Suite("lab plan: what Linux can build of a scenario")
struct LabPlanTests {
    private func plan(_ file: String) throws -> LabPlan {
        try LabPlan(scenario: ScenarioParser.load(path: "\(RepositoryFiles.scenarios)/\(file)"))
    }

    @Test("the NAT matrix loses the NATs Linux lacks, with their nodes, and only those")
    func natMatrixExclusions() throws {
        let plan = try plan("nat-matrix.yaml")
        #expect(Set(plan.refusals.keys) == [
            "nat-eim-eif-x", "nat-eim-eif-y", "nat-eim-adf-x", "nat-eim-adf-y", "nat-adm-x", "nat-adm-y",
        ])
        #expect(plan.excluded == Set(plan.refusals.keys).union(["eim-eif-x", "eim-eif-y", "eim-adf-x", "eim-adf-y", "adm-x", "adm-y"]))
        // A client on a kept node whose only backend is behind a lost NAT is not judged; one
        // whose backend is kept is.
        #expect(plan.notJudged["public-to-adm"]?.contains("nat-adm-y") == true)
        #expect(plan.notJudged["eim-eif-to-apdm"]?.contains("nat-eim-eif-x") == true)
        #expect(plan.notJudged["public-to-apdm"] == nil)
        #expect(plan.notJudged["double-to-no-udp"] == nil)
        #expect(plan.exclusionNotes.count == 6)
        #expect(plan.exclusionNotes.contains { $0.hasPrefix("nat-adm-x: address-dependent mapping cannot be realised") && $0.hasSuffix("left out with adm-x") })
    }

    @Test("a punch whose peer is left out is not judged; one between two built NATs is")
    func punchPeers() throws {
        let plan = try plan("nat-hole-punching.yaml")
        #expect(plan.notJudged["cone-b-udp"]?.contains("its peer cone-a-udp") == true)
        #expect(plan.notJudged["cone-b-tcp"] != nil)
        #expect(plan.notJudged["sym-udp"] == nil)
        #expect(plan.notJudged["restricted-tcp"] == nil)
    }

    @Test("a fault aimed at a router left out goes with it; the others are played")
    func faultsOfLeftOutRouters() throws {
        let scenario = try ScenarioParser.load(path: "\(RepositoryFiles.scenarios)/hostile-wan.yaml")
        let plan = try LabPlan(scenario: scenario)
        #expect(plan.excluded.contains("home-a"))
        let (kept, leftOut) = plan.playableFaults(scenario.faults)
        #expect(kept.count == scenario.faults.count - 1)
        #expect(!kept.contains { $0.kind == .natReboot(router: "home-a") })
        #expect(leftOut == ["the fault at 100.000s on home-a is left out with it"])
    }

    @Test("a double NAT behind a lost carrier NAT goes with it")
    func nestedExclusion() throws {
        let yaml = """
            name: nested
            duration: 10s
            network:
              networks:
                - {name: internet, subnet: 203.0.113.0/24}
                - {name: carrier, subnet: 100.64.0.0/24, router: cgn}
                - {name: home, subnet: 192.168.1.0/24, router: home-nat}
              routers:
                - {name: cgn, upstream: internet, address: 203.0.113.2, nat: {mapping: address-dependent}}
                - {name: home-nat, upstream: carrier, nat: {mapping: endpoint-independent}}
              nodes:
                - {name: inside, network: home}
                - {name: outside, network: internet}
            """
        let plan = try LabPlan(scenario: ScenarioParser.parse(yaml: yaml, source: "nested.yaml"))
        #expect(plan.excluded == ["cgn", "home-nat", "inside"])
        #expect(plan.exclusionNotes == ["cgn: address-dependent mapping cannot be realised with Linux NAT (masquerade maps per endpoint or, random, per address and port); left out with inside"])
    }

    @Test("quickstart is built whole, at the simulator's addresses")
    func quickstartWhole() throws {
        let plan = try plan("quickstart.yaml")
        #expect(plan.excluded.isEmpty)
        #expect(plan.notJudged.isEmpty)
        #expect(plan.topology.routers.first { $0.name == "nat-a" }?.insideAddress?.description == "192.168.1.1")
        #expect(plan.topology.nodes.allSatisfy { $0.address != nil })
    }
}
