import ArgumentParser
import NetSim
import NetworkTopology
import Scenario
import SimTestbed

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check scenario files without running them (exit 2 names the first problem of each)."
    )

    @Argument(help: "Scenario files.")
    var scenarios: [String]

    func run() throws {
        var invalid = 0
        for path in scenarios {
            do {
                let scenario = try ScenarioParser.load(path: path)
                _ = try ScenarioRunner(scenario: scenario)
                print("ok  \(path): \(scenario.topology.nodes.count) nodes, \(scenario.workloads.count) workloads, "
                    + "\(scenario.faults.count) faults, \(scenario.expectations.count) expectations")
            } catch {
                invalid += 1
                printError("\(error)")
            }
        }
        if invalid > 0 { throw ExitCode(2) }
    }
}
