import Mesh
import NetworkTopology
@testable import Scenario
@testable import SimTestbed
import TestFixtures
import Testing

/// `Scenarios/multi-nic-gateway.yaml`: the gateway opens its ports on eth1's address only, says
/// so in `edgemesh status` with why each other address is left out, and follows eth1's address
/// as it goes and comes back.
@Suite struct MultiNICGatewayScenarioTests {
    static let second = Nanoseconds.second

    @Test func statusSaysWhereThePortsAreAndFollowsTheAddress() throws {
        let scenario = try ScenarioParser.load(path: "\(RepositoryFiles.scenarios)/multi-nic-gateway.yaml")
        let runner = try ScenarioRunner(scenario: scenario)
        var before: [String]?
        var gone: [String]?
        var back: [String]?
        var tunnel: TunnelStatusReport?
        let report = try runner.run(options: .init(prepare: { simulator in
            simulator.schedule(at: 40 * Self.second) { before = runner.agent(on: "gateway-1")?.status().gateway }
            simulator.schedule(at: 70 * Self.second) { gone = runner.agent(on: "gateway-1")?.status().gateway }
            simulator.schedule(at: 95 * Self.second) {
                back = runner.agent(on: "gateway-1")?.status().gateway
                tunnel = runner.agent(on: "edge-a1")?.tunnel?.statusReport
            }
        }))
        let failed = report.verdicts.filter { !$0.passed }.map { "\($0.expectation.subject): \($0.detail)" }
        #expect(failed.isEmpty, "\(failed)")
        #expect(before == [
            "gateway kubeedge=edgemesh-gateway: listening on 80 (HTTP)",
            "gateway: on 198.51.100.21 (eth1)",
            "gateway: 127.0.0.1 (lo): left out, interface lo is not listed (eth1)",
            "gateway: 198.51.100.20 (eth0): left out, interface eth0 is not listed (eth1)",
            "gateway: 0 of 1024 connections open",
        ], "\(before ?? [])")
        #expect(gone?.prefix(2) == [
            "gateway kubeedge=edgemesh-gateway: listening on no port (no address of the node is chosen)",
            "gateway: on no address",
        ], "eth1's address gone, its listener is closed: \(gone ?? [])")
        #expect(back?.prefix(2) == ["gateway kubeedge=edgemesh-gateway: listening on 80 (HTTP)", "gateway: on 198.51.100.21 (eth1)"],
                "and opened again when it is back, with no restart: \(back ?? [])")
        #expect(tunnel?.listening == ["127.0.0.1:20006", "192.168.1.10:20006"], "\(String(describing: tunnel))")
        #expect(tunnel?.notListening == ["192.168.1.50 (docker0): left out, interface docker0 is filtered (docker*)"],
                "the tunnel leaves the container bridge out, as EdgeMesh does")
    }
}
