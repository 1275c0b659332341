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
            #expect(plan.drawn.count == level.faultCount ?? 5, "file: the default bounds draw five")
            #expect(plan.drawn.map(\.at) == plan.drawn.map(\.at).sorted())
            #expect(plan.descriptions.count == plan.drawn.count)
            #expect(plan.settlesAt == plan.drawn.map(\.end).max()! + 54 * Nanoseconds.second)
            for drawn in plan.drawn {
                #expect(drawn.at >= duration / 10)
                #expect(drawn.end <= duration / 2, "over by half the run: \(drawn)")
                if let length = drawn.duration { #expect(length >= Nanoseconds.second && length <= 30 * Nanoseconds.second) }
                #expect((drawn.fault == nil) != drawn.changes.isEmpty, "a fault or churn: \(drawn)")
                for change in drawn.changes { #expect(change.at == drawn.at || change.at == drawn.end) }
                guard let fault = drawn.fault else { continue }
                switch fault.kind {
                case .crash(let node): #expect(hosts.contains(node), "only hosts crash")
                case .natReboot(let router): #expect(nats.contains(router))
                case .linkDown(let node, _), .flap(let node, _, _): #expect(linked.contains(node))
                case .degrade(let node, let loss, let latency):
                    #expect(linked.contains(node))
                    #expect(loss <= 0.5 && latency <= 500 * Nanoseconds.millisecond && (loss > 0 || latency > 0))
                case .clockSkew(let node, let offset):
                    #expect(hosts.contains(node) && offset.magnitude <= 5 * Nanoseconds.minute)
                case .partition(let a, let b, _): #expect(a != b && hosts.isSuperset(of: a + b))
                case .cloudUnreachable, .isolate: break
                case .addressDown: Issue.record("chaos takes no address down: \(fault)")
                }
            }
        }
    }
}

extension ChaosPlanTests {
    /// A file's `chaos:` section bounds what is drawn: only its kinds, on its targets, in its window.
    @Test func aChaosSectionBoundsTheDraw() throws {
        var scenario = Self.scenario
        scenario.chaos = ChaosSpec(
            faults: 8, kinds: [.crash, .manifestChurn], from: 20 * Nanoseconds.second, until: 60 * Nanoseconds.second,
            longest: 5 * Nanoseconds.second, settle: 10 * Nanoseconds.second, targets: ["edge-b2"])
        for seed: UInt64 in 1...30 {
            let plan = ChaosPlan(scenario: scenario, seed: seed)
            #expect(plan.drawn.count == 8)
            for drawn in plan.drawn {
                #expect(drawn.at >= 20 * Nanoseconds.second && drawn.end <= 60 * Nanoseconds.second)
                #expect(drawn.duration! <= 5 * Nanoseconds.second)
                if let fault = drawn.fault { #expect(fault.kind == .crash(node: "edge-b2")) } else { #expect(!drawn.changes.isEmpty) }
            }
            #expect(plan.settlesAt <= 70 * Nanoseconds.second)
            // The played scenario carries the changes and is judged from the settle point.
            let played = plan.applied(to: scenario)
            #expect(played.changes.count == plan.changes.count && played.settlesAt == plan.settlesAt)
        }
    }

    /// Churn narrows an Endpoints object to its first address, and puts the original back.
    @Test func narrowedEndpointsKeepOnlyTheFirstAddress() throws {
        let endpoints = try #require(Self.scenario.manifests.first { $0.kind == "Endpoints" && $0.name == "hostname-svc" })
        let narrowed = try #require(ManifestChurn.narrowed(endpoints))
        #expect(narrowed.yaml.contains("192.168.1.10") && !narrowed.yaml.contains("192.168.2.10"))
        let single = try #require(Self.scenario.manifests.first { $0.kind == "Endpoints" && $0.name == "web-b" })
        #expect(ManifestChurn.narrowed(single) == nil, "one address cannot be narrowed")
    }
}
