import ArgumentParser
import Foundation
import LabTestbed
import NetworkTopology
import Scenario
import SimTestbed

struct LabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "Run a scenario file on this machine's kernel: network namespaces, nftables NATs, real agents (root).",
        discussion: """
            The same file `edgemesh sim` runs: a namespace per node, router and network, NAT \
            routers in nftables, the real `edgemesh agent` and `edgemesh relay` processes, and the \
            scenario's workloads in their nodes. Scenario time runs in real time. Settings Linux \
            cannot build are named before the run and the expectations they touch are not judged. \
            With --compare the simulator runs the file too and an agreement table follows. \
            Exits 0 when every judged expectation holds (and, with --compare, every row agrees), \
            1 otherwise, 2 for a scenario or machine the lab cannot run.
            """
    )

    @Argument(help: "The scenario file (YAML), e.g. Scenarios/quickstart.yaml.")
    var scenario: String

    @Option(help: "The simulator's seed for --compare; defaults to the scenario's own.")
    var seed: UInt64?

    @Option(help: "The longest scenario the lab runs (scenario time is real time here).")
    var maxDuration: String = "10m"

    @Option(help: "Write one pcap file per node and router into this directory (as `edgemesh sim --pcap`).")
    var pcap: String?

    @Flag(help: "Keep the run's directory under /run/edgemesh-lab (agents' logs and state, manifests).")
    var keep = false

    @Flag(help: "Also run the simulator and print the agreement table; exit 1 on a disagreement.")
    var compare = false

    func run() throws {
        let parsed = try ScenarioFile.load(scenario)
        guard let limit = ScenarioValues.duration(maxDuration) else {
            printError("--max-duration \"\(maxDuration)\" is not a duration (e.g. 10m, 90s)")
            throw ExitCode(2)
        }
        let runner: LabRunner
        do {
            let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
            runner = try LabRunner(
                scenario: parsed,
                options: LabRunner.Options(
                    executable: executable, maxDuration: limit, keepFiles: keep, pcapDirectory: pcap,
                    progress: { elapsed, total in
                        let seconds = elapsed / Nanoseconds.second
                        if seconds % 15 == 0 { printError("[lab] \(seconds) s of \(Nanoseconds.format(total))") }
                    }))
        } catch {
            printError("edgemesh lab: \(error)")
            throw ExitCode(2)
        }
        if let profile = parsed.labProfile {
            print("note: the lab profile runs \(Nanoseconds.format(profile.duration)) of \(Nanoseconds.format(parsed.duration))"
                + (profile.why.map { ": \($0)" } ?? ""))
        }
        for note in runner.notes { print("note: \(note)") }

        var simulated: ScenarioReport?
        if compare {
            do {
                simulated = try ScenarioRunner(scenario: parsed.applyingLabProfile(), seed: seed).run()
            } catch {
                printError("invalid scenario \(scenario): \(error)")
                throw ExitCode(2)
            }
        }

        let signals = LabInterruption.install { runner.cleanUp() }
        defer { withExtendedLifetime(signals) {} }
        let outcome: (report: ScenarioReport, notes: [String])
        do {
            outcome = try runner.run()
        } catch {
            printError("edgemesh lab: \(error)")
            throw ExitCode(2)
        }
        for note in outcome.notes { print("note: \(note)") }
        print(outcome.report.renderTable())
        if let pcap { print("pcap files in \(pcap)/") }
        if let simulated {
            let agreement = AgreementReport(simulated: simulated, real: outcome.report)
            print("")
            print(agreement.render())
            if !agreement.agrees { throw ExitCode(1) }
        } else if outcome.report.verdicts.contains(where: { !$0.passed }) {
            throw ExitCode(1)
        }
    }
}

/// Ctrl-C and SIGTERM during a lab run: remove what the run made, then exit 130.
enum LabInterruption {
    static func install(cleanUp: @escaping @Sendable () -> Void) -> [DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                printError("edgemesh lab: interrupted; removing the run's namespaces")
                cleanUp()
                exit(130)
            }
            source.resume()
            return source
        }
    }
}
