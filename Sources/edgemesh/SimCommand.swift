import ArgumentParser
import Foundation
import Logging
import Mesh
import NetSim
import NetworkTopology
import Scenario
import SimTestbed

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension ChaosLevel: ExpressibleByArgument {}

struct SimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run a scenario on the deterministic network simulator.",
        discussion: """
            Prints a summary table and, as its last line, `seed=<N> trace=<sha256>`: the same \
            scenario, seed and build always give the same trace hash. Exits 0 when every \
            expectation holds, 1 when one fails (it is named), 2 for an invalid scenario. \
            With --seeds A..B it runs every seed in parallel processes and groups the failing \
            seeds by the first expectation that failed, with the command that replays each.
            """
    )

    @Argument(help: "The scenario file (YAML), e.g. Scenarios/quickstart.yaml.")
    var scenario: String?

    @Option(help: "The seed of every random choice; defaults to the scenario's own.")
    var seed: UInt64?

    @Option(help: "Write one pcap file per node into this directory.")
    var pcap: String?

    @Option(help: "Write the trace, one line per event, to this file.")
    var trace: String?

    @Option(help: "Show hosts' log records from this level up (trace, debug, info, notice, warning, error).")
    var logLevel: Logger.Level = .notice

    @Option(help: "Run once per seed from A to B (A..B), in parallel processes; exit 1 if any seed fails.")
    var seeds: SeedRange?

    @Option(help: "With --seeds: processes at once (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Draw extra faults from the seed on top of the file's (low: 2, medium: 5, high: 10, file: as its chaos section says), within the section's bounds: flaps, outages, loss bursts, latency spikes, crashes, relay crashes, NAT reboots, partitions, the cloud away, clock skew, manifest churn. The expectations then judge what happens after the chaos settled.")
    var chaos: ChaosLevel?

    @Option(help: "With --seeds: run only shard I of N (I from 0: a Kubernetes indexed Job's $(JOB_COMPLETION_INDEX)).")
    var shard: SweepShard?

    @Option(help: "With --seeds: also write every seed's result to this JSON file (for --merge).")
    var results: String?

    @Option(parsing: .upToNextOption, help: "Merge the --results files of a sweep's shards and summarise them (no scenario argument).")
    var merge: [String] = []

    @Flag(help: "For a failing seed: remove faults, object changes and clients one at a time while the run still fails the same way, and print the smallest scenario file (a regression scenario to commit).")
    var shrink = false

    @Option(help: "Write a picture of the run to this HTML file: faults, each tunnel peer's path and every request over time, the verdicts and the drawn chaos (self-contained; opens offline).")
    var report: String?

    @Option(help: "With --shrink: write the smallest scenario to this file instead of printing it.")
    var shrunk: String?

    @Flag(help: .hidden)
    var resultLine = false

    func validate() throws {
        if !merge.isEmpty {
            guard scenario == nil, seeds == nil else { throw ValidationError("--merge reads results; it takes no scenario and no --seeds") }
            return
        }
        guard scenario != nil else { throw ValidationError("name a scenario file (or --merge results files)") }
        if seeds != nil && (seed != nil || pcap != nil || trace != nil || report != nil) {
            throw ValidationError("--seeds runs many seeds; --seed, --pcap, --trace and --report are for one (replay a seed with --seed N)")
        }
        if seeds == nil && (shard != nil || results != nil) { throw ValidationError("--shard and --results go with --seeds") }
        if shrink && seeds != nil { throw ValidationError("--shrink takes one failing seed (--seed N), not a sweep") }
        if shrunk != nil && !shrink { throw ValidationError("--shrunk goes with --shrink") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        if !merge.isEmpty { return try mergeResults() }
        let scenario = self.scenario!
        let parsed = try ScenarioFile.load(scenario)
        if let seeds {
            let shard = shard ?? .whole
            let outcome = SweepResults(
                scenario: scenario, firstSeed: seeds.first, lastSeed: seeds.last, shard: self.shard?.description,
                results: SeedSweep(scenarioPath: scenario, seeds: shard.seeds(of: seeds), jobs: jobs, chaos: chaos).run())
            if let results { try JSONEncoder().encode(outcome).write(to: URL(fileURLWithPath: results)) }
            print(SeedSweep.summary(of: outcome, chaos: chaos))
            if outcome.results.contains(where: { !$0.passed }) { throw ExitCode(1) }
            return
        }
        var played = parsed
        let runSeed = seed ?? parsed.defaultSeed
        let chaosPlan = chaos.map { ChaosPlan(scenario: parsed, seed: runSeed, level: $0) }
        if let chaosPlan {
            played = chaosPlan.applied(to: parsed)
            if !resultLine {
                print("chaos \(chaosPlan.level.rawValue) (\(chaosPlan.drawn.count) faults), drawn from seed \(runSeed); judged from \(Nanoseconds.format(chaosPlan.settlesAt)) on:")
                for line in chaosPlan.descriptions { print("  \(line)") }
            }
        }
        if shrink { return try shrinkRun(played, seed: runSeed) }
        let runner: ScenarioRunner
        do {
            runner = try ScenarioRunner(scenario: played, seed: seed)
        } catch {
            printError("invalid scenario \(scenario): \(error)")
            throw ExitCode(2)
        }
        let traceFile = try trace.map { try LineFile(path: $0) }
        let captures = try pcap.map { try PcapDirectory(path: $0) }
        let progress = ProgressLine(quiet: resultLine)
        let report = try runner.run(
            options: ScenarioRunner.Options(
                progress: { now, total in progress.update(simulated: now, of: total) },
                traceSink: traceFile.map { file in { file.append($0) } },
                prepare: { [logLevel] simulator in
                    simulator.logLevel = logLevel
                    try captures?.attach(to: simulator)
                }, recordTimeline: report != nil))
        progress.finish()
        try traceFile?.close()
        try captures?.close()
        if resultLine {
            // One seed of a sweep: the parent reads this line.
            print(String(decoding: try JSONEncoder().encode(SeedResult(report, chaos: chaosPlan)), as: UTF8.self))
            return
        }
        print(report.renderTable())
        if let pcap { print("pcap files in \(pcap)/") }
        if let page = self.report, let timeline = runner.timeline {
            let html = RunReportPage(
                scenario: played, report: report, timeline: timeline, logs: runner.logs, chaos: chaosPlan?.descriptions ?? [],
                runTime: { $0.uptimeNanoseconds }
            ).html()
            try html.write(toFile: page, atomically: true, encoding: .utf8)
            print("report in \(page)")
        }
        let failed = report.verdicts.filter { !$0.passed }
        if !failed.isEmpty {
            print("\(failed.count) expectation(s) failed: " + failed.map { "\($0.expectation.subject): \($0.detail)" }.joined(separator: "; "))
        }
        let broken = report.invariants.filter { !$0.passed }
        if !broken.isEmpty {
            print("\(broken.count) invariant(s) broken: " + broken.map { "\($0.name): \($0.detail)" }.joined(separator: "; "))
        }
        print("seed=\(report.seed) trace=\(report.traceDigest)")
        if !report.passed { throw ExitCode(1) }
    }
}

extension SimCommand {
    /// `--shrink`: the smallest scenario that fails as this run does, as a file.
    private func shrinkRun(_ played: Scenario, seed: UInt64) throws {
        let shrinker = ScenarioShrinker { candidate in SeedResult(try ScenarioRunner(scenario: candidate, seed: seed).run()) }
        let outcome: ScenarioShrinker.Outcome
        do {
            outcome = try shrinker.shrink(played)
        } catch let error as ScenarioShrinker.ShrinkError {
            printError("\(error)")
            throw ExitCode(2)
        }
        let command = "edgemesh sim \(scenario!) --seed \(seed)\(chaos.map { " --chaos \($0.rawValue)" } ?? "") --shrink"
        let header = [
            "Shrunk from \(scenario!) by `\(command)` in \(outcome.trials) runs.",
            "It fails first on \(outcome.failure.expectation): \(outcome.failure.detail)",
            "Replay: edgemesh sim THIS_FILE (it exits 1 until the bug is fixed).",
        ] + (outcome.removed.isEmpty ? [] : ["Removed: " + outcome.removed.joined(separator: "; ")])
        let text = try ShrunkScenarioWriter.yaml(
            original: try String(contentsOfFile: scenario!, encoding: .utf8), shrunk: outcome.scenario, seed: seed, header: header)
        if let shrunk {
            try text.write(toFile: shrunk, atomically: true, encoding: .utf8)
            print("shrunk in \(outcome.trials) runs to \(outcome.scenario.faults.count) fault(s), \(outcome.scenario.changes.count) object change(s), "
                + "\(outcome.scenario.workloads.count) workload(s); still fails first on \(outcome.failure.expectation); written to \(shrunk)")
        } else {
            print(text)
        }
    }

    /// `--merge FILE...`: the shards' results as one sweep; exit 1 when a seed failed or has
    /// no result.
    private func mergeResults() throws {
        var parts: [SweepResults] = []
        for path in merge {
            guard let data = FileManager.default.contents(atPath: path), let part = try? JSONDecoder().decode(SweepResults.self, from: data)
            else {
                printError("\(path) is not a sweep's --results file")
                throw ExitCode(2)
            }
            parts.append(part)
        }
        let merged: (merged: SweepResults, missing: [UInt64])
        do {
            merged = try SweepResults.merge(parts)
        } catch {
            printError("\(error)")
            throw ExitCode(2)
        }
        print(SeedSweep.summary(of: merged.merged, missing: merged.missing))
        if !merged.missing.isEmpty || merged.merged.results.contains(where: { !$0.passed }) { throw ExitCode(1) }
    }
}

/// Shows progress on standard error once a run has taken more than a few wall seconds.
final class ProgressLine {
    private let quiet: Bool
    private let started = Date()

    init(quiet: Bool = false) {
        self.quiet = quiet
    }

    private var lastPrinted = Date.distantPast
    private var printed = false

    func update(simulated now: UInt64, of total: UInt64) {
        let elapsed = Date().timeIntervalSince(started)
        guard !quiet, elapsed > 3, Date().timeIntervalSince(lastPrinted) > 1 else { return }
        lastPrinted = Date()
        printed = true
        let percent = total == 0 ? 100 : Int(Double(now) / Double(total) * 100)
        printError("[\(percent)%] \(Nanoseconds.format(now)) of \(Nanoseconds.format(total)) simulated, \(Int(elapsed)) s wall")
    }

    func finish() {
        if printed { printError("[100%] done in \(String(format: "%.1f", Date().timeIntervalSince(started))) s wall") }
    }
}

/// A text file written a line at a time through a buffer.
final class LineFile {
    private let handle: FileHandle
    private var buffer = Data()

    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw ValidationError("cannot create \(path)")
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    func append(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(0x0A)
        if buffer.count > 1 << 20 { flush() }
    }

    private func flush() {
        handle.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        flush()
        try handle.close()
    }
}
