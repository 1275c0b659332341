import Foundation
import Scenario
import SimTestbed
import TestFixtures
import Testing

@testable import LabTestbed

/// The project's promise held against this kernel: the scenario files CI runs in the simulator
/// run on network namespaces with real agents, and both say the same about every expectation
/// and every NAT-matrix cell Linux can build. Each file runs in real time (quickstart 3 min,
/// nat-matrix 100 s, load-balancing 10 min, partition-and-offline's lab profile 4 min,
/// conntrack-collision 100 s, socks5-node-proxy 2 min, gateway-resilience 1 min,
/// multi-nic-gateway 2.5 min, pod-network 4 min, grpc-balancing 1.5 min), side by side.
@Suite("lab: the simulator and the kernel agree", .enabled(if: LabMachine.canRun, LabMachine.reason))
struct LabAgreementTests {
    @Test(
        "every judged expectation and matrix cell agrees",
        arguments: [
            "quickstart.yaml", "nat-matrix.yaml", "load-balancing.yaml", "partition-and-offline.yaml", "conntrack-collision.yaml",
            "socks5-node-proxy.yaml", "gateway-resilience.yaml", "multi-nic-gateway.yaml", "pod-network.yaml", "grpc-balancing.yaml",
        ])
    func agreement(file: String) throws {
        let scenario = try ScenarioParser.load(path: "\(RepositoryFiles.scenarios)/\(file)")
        let simulated = try ScenarioRunner(scenario: scenario.applyingLabProfile()).run()
        let runner = try LabRunner(scenario: scenario, options: LabRunner.Options(executable: RepositoryFiles.edgemeshBinary.path))
        let real = try runner.run().report
        let agreement = AgreementReport(simulated: simulated, real: real)
        #expect(agreement.agrees, "\(agreement.render())\n\n\(real.renderTable())")
        // Something was judged on the kernel: a run where nothing ran cannot agree by default.
        #expect(agreement.rows.filter { $0.agreement == .agree }.count >= 3, "\(agreement.render())")
        let failed = real.verdicts.filter { $0.judged && !$0.passed }
        #expect(failed.isEmpty, "\(real.renderTable())")
        if let matrix = real.matrix {
            // nat-matrix: the 15 pairs among public, EIM/APDF, APDM, double NAT and no-UDP are
            // built and judged; the 21 pairs with EIM/EIF, EIM/ADF or ADM cannot be.
            #expect(matrix.cells.filter(\.judged).count == 15)
            #expect(agreement.rows.filter { $0.subject.hasPrefix("matrix ") && $0.agreement == .agree }.count == 15)
        }
    }
}
