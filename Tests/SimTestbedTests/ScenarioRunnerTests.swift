import Mesh
import NetworkTopology
@testable import Scenario
@testable import SimTestbed
import Testing

@testable import NetSim

@Suite struct ScenarioRunnerTests {
    @Test(arguments: [WorkloadSpec.TransportKind.udp, .tcp])
    func conePeersPunchAHole(transport: WorkloadSpec.TransportKind) throws {
        let runner = try ScenarioRunner(scenario: ScenarioFixtures.twoNATs(ScenarioFixtures.cone, ScenarioFixtures.cone, transport: transport))
        let report = try runner.run()
        #expect(runner.log(of: "peer-a")?.succeeded == 1)
        #expect(runner.log(of: "peer-b")?.succeeded == 1)
        #expect(report.passed, "\(report.renderTable())")
    }

    @Test(arguments: [WorkloadSpec.TransportKind.udp, .tcp])
    func symmetricAgainstPortRestrictedCannotPunch(transport: WorkloadSpec.TransportKind) throws {
        let runner = try ScenarioRunner(scenario: ScenarioFixtures.twoNATs(ScenarioFixtures.symmetric, ScenarioFixtures.cone, transport: transport))
        _ = try runner.run()
        #expect(runner.log(of: "peer-a")?.succeeded == 0)
        #expect(runner.log(of: "peer-b")?.succeeded == 0)
        #expect(runner.log(of: "browser")?.successRatio == 1, "outbound HTTP through a symmetric NAT still works")
    }

    @Test func sameSeedSameTraceOtherSeedOtherTrace() throws {
        let scenario = ScenarioFixtures.twoNATs(ScenarioFixtures.cone, ScenarioFixtures.cone, wanLoss: 0.02)
        let first = try ScenarioRunner(scenario: scenario, seed: 7).run()
        let second = try ScenarioRunner(scenario: scenario, seed: 7).run()
        let other = try ScenarioRunner(scenario: scenario, seed: 8).run()
        #expect(first.traceDigest == second.traceDigest)
        #expect(first.deliveredPackets == second.deliveredPackets)
        #expect(first.traceDigest != other.traceDigest)
    }

    @Test func backendCountsAreJudgedFromBothSides() throws {
        var scenario = ScenarioFixtures.twoNATs(ScenarioFixtures.cone, ScenarioFixtures.cone)
        scenario.expectations = [
            ExpectationSpec(subject: "browser", kind: .maxBackends(1)),
            ExpectationSpec(subject: "browser", kind: .minBackends(2)),
        ]
        let report = try ScenarioRunner(scenario: scenario).run()
        #expect(report.verdicts.map(\.passed) == [true, false])
        #expect(report.verdicts[1].detail == "1 backend(s) answered (web-0), wanted ≥ 2")
    }
}
