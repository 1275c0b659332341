import NetworkTopology
import Testing
import TestFixtures

@testable import Scenario

/// What `--chaos` draws: a pure function of scenario, seed and level, within the bounds that
/// leave the run time to recover, and only faults the topology can take.
@Suite struct ChaosPlanTests {
    static let scenario = try! ScenarioParser.load(path: "\(RepositoryFiles.scenarios)/quickstart.yaml")

    @Test func theSameSeedDrawsTheSameFaultsAndAnotherSeedOthers() {
        let first = ChaosPlan(scenario: Self.scenario, seed: 7, level: .high)
        #expect(ChaosPlan(scenario: Self.scenario, seed: 7, level: .high).faults == first.faults)
        #expect(ChaosPlan(scenario: Self.scenario, seed: 8, level: .high).faults != first.faults)
    }

    @Test(arguments: ChaosLevel.allCases)
    func faultsStayWithinTheirBoundsAndTheTopology(level: ChaosLevel) {
        let duration = Self.scenario.duration
        let hosts = Set(Self.scenario.topology.nodes.map(\.name))
        let linked = hosts.union(Self.scenario.topology.routers.map(\.name))
        let nats = Set(Self.scenario.topology.routers.filter { $0.nat != nil }.map(\.name))
        for seed: UInt64 in 1...50 {
            let plan = ChaosPlan(scenario: Self.scenario, seed: seed, level: level)
            #expect(plan.faults.count == level.faultCount)
            #expect(plan.faults.map(\.at) == plan.faults.map(\.at).sorted())
            #expect(plan.descriptions.count == plan.faults.count)
            for fault in plan.faults {
                #expect(fault.at >= duration / 10)
                #expect(fault.at + (fault.duration ?? 0) <= duration * 7 / 10, "over before seven tenths: \(fault)")
                if let length = fault.duration { #expect(length >= Nanoseconds.second && length <= 30 * Nanoseconds.second) }
                switch fault.kind {
                case .crash(let node): #expect(hosts.contains(node), "only hosts crash")
                case .natReboot(let router): #expect(nats.contains(router))
                case .linkDown(let node, _), .flap(let node, _, _): #expect(linked.contains(node))
                case .partition(let a, let b, _): #expect(a != b && hosts.isSuperset(of: a + b))
                case .cloudUnreachable, .isolate: break
                }
            }
        }
    }
}
