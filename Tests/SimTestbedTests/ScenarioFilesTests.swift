import Foundation
@testable import NetSim
@testable import Scenario
import TestFixtures
import Testing

/// Every file CI will run must at least parse, and must judge something.
@Suite struct ScenarioFilesTests {
    static let directory = RepositoryFiles.scenarios

    static var files: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }

    @Test func theSampleScenariosAreThere() {
        let files = Self.files
        for expected in ["lossy-links.yaml", "nat-hole-punching.yaml", "partition-and-offline.yaml", "quickstart.yaml"] {
            #expect(files.contains(expected), "\(expected) missing from \(Self.directory)")
        }
    }

    @Test(arguments: ScenarioFilesTests.files)
    func scenarioFileParsesAndJudgesEveryClient(_ file: String) throws {
        let scenario = try ScenarioParser.load(path: "\(Self.directory)/\(file)")
        #expect(scenario.name == String(file.dropLast(".yaml".count)), "the name should match the file name")
        #expect(!scenario.expectations.isEmpty)
        // A client or punch peer that no expectation looks at is traffic nobody checks.
        let judged = Set(scenario.expectations.map(\.subject))
        for workload in scenario.workloads {
            switch workload.kind {
            case .client, .punchPeer, .replay:
                #expect(judged.contains(workload.name), "\(file): no expectation about \(workload.name)")
            default:
                break
            }
        }
    }

    @Test func holePunchingExpectsConeSuccessAndSymmetricFailureOverBothTransports() throws {
        let scenario = try ScenarioParser.load(path: "\(Self.directory)/nat-hole-punching.yaml")
        var succeed: Set<WorkloadSpec.TransportKind> = []
        var fail: Set<WorkloadSpec.TransportKind> = []
        for workload in scenario.workloads {
            guard case .punchPeer(let punch) = workload.kind else { continue }
            let kinds = scenario.expectations.filter { $0.subject == workload.name }.map(\.kind)
            if kinds.contains(.minSuccessRatio(1)) { succeed.insert(punch.transport) }
            if kinds.contains(.maxSuccessRatio(0)) { fail.insert(punch.transport) }
        }
        #expect(succeed == [.udp, .tcp])
        #expect(fail == [.udp, .tcp])
    }

    @Test func natMatrixPinsEveryPairOfNATTypes() throws {
        let scenario = try ScenarioParser.load(path: "\(Self.directory)/nat-matrix.yaml")
        let matrix = try #require(scenario.matrix)
        #expect(matrix.rows.count == 8 && matrix.columns == matrix.rows)
        // Every pair once (the initiator's type at or before the responder's).
        #expect(matrix.cells.count == 36)
        var direct = 0, punched = 0, relayed = 0
        for cell in matrix.cells {
            let kinds = scenario.expectations.filter { $0.subject == cell.workload }.map(\.kind)
            #expect(kinds.contains(.minSuccessRatio(1)), "\(cell.workload) must always connect")
            switch kinds.first(where: { if case .path = $0 { true } else { false } }) {
            case .path(.direct): direct += 1
            case .path(.holePunched): punched += 1
            case .path(.relayed): relayed += 1
            default: Issue.record("\(cell.workload) has no path expectation")
            }
        }
        #expect([direct, punched, relayed] as [Int] == [8, 16, 12], "public pairs direct; 16 punchable; 12 only relayed")
    }
}
