import Foundation
import Scenario

/// `edgemesh sim SCENARIO --seeds A..B`: the scenario once per seed, `jobs` processes at a time
/// (each its own `edgemesh sim --seed N --result-line`, so one seed's crash is that seed's
/// failure and not the sweep's), with a progress line and a summary that groups the failing
/// seeds by the first expectation that failed and says how to replay each. Its results are
/// guarded by `lock`: the seeds finish on the dispatch queue's threads.
final class SeedSweep: @unchecked Sendable {
    let scenarioPath: String
    let seeds: StrideThrough<UInt64>
    let seedCount: Int
    let jobs: Int
    let chaos: ChaosLevel?
    private let executable: String
    private let lock = NSLock()
    private var results: [SeedResult] = []
    private var failedCount = 0
    private let started = Date()

    init(scenarioPath: String, seeds: StrideThrough<UInt64>, jobs: Int, chaos: ChaosLevel? = nil) {
        self.chaos = chaos
        self.scenarioPath = scenarioPath
        self.seeds = seeds
        seedCount = seeds.reduce(0) { count, _ in count + 1 }
        self.jobs = max(1, jobs)
        executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// Runs every seed; returns the results in seed order.
    func run() -> [SeedResult] {
        let slots = DispatchSemaphore(value: jobs)
        let group = DispatchGroup()
        let progress = DispatchSource.makeTimerSource(queue: .global())
        progress.schedule(deadline: .now() + 1, repeating: 1)
        progress.setEventHandler { [self] in printProgress(final: false) }
        progress.resume()
        for seed in seeds {
            slots.wait()
            group.enter()
            DispatchQueue.global().async { [self] in
                let result = run(seed: seed)
                lock.withLock {
                    results.append(result)
                    if !result.passed { failedCount += 1 }
                }
                slots.signal()
                group.leave()
            }
        }
        group.wait()
        progress.cancel()
        printProgress(final: true)
        return lock.withLock { results.sorted { $0.seed < $1.seed } }
    }

    private func run(seed: UInt64) -> SeedResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["sim", scenarioPath, "--seed", "\(seed)", "--result-line"] + (chaos.map { ["--chaos", $0.rawValue] } ?? [])
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return .crashed(seed: seed, "could not start \(executable): \(error)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last { $0.hasPrefix("{") }
        if let line, let result = try? JSONDecoder().decode(SeedResult.self, from: Data(line.utf8)) { return result }
        let how = process.terminationReason == .uncaughtSignal
            ? "the simulation process died of signal \(process.terminationStatus)"
            : "the simulation process exited with status \(process.terminationStatus) and no result"
        return .crashed(seed: seed, how)
    }

    private func printProgress(final: Bool) {
        let (done, failed) = lock.withLock { (results.count, failedCount) }
        let elapsed = Date().timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let left = seedCount - done
        let eta = rate > 0 ? " ETA \(Int((Double(left) / rate).rounded(.up))) s" : ""
        let line = "seeds \(done)/\(seedCount) done, \(failed) failed, \(String(format: "%.1f", rate)) seeds/s,"
            + (final ? " \(String(format: "%.1f", elapsed)) s wall" : eta)
        FileHandle.standardError.write(Data(("\r" + line + (final ? "\n" : "   ")).utf8))
    }

    /// The summary for people: the failing seeds grouped by their first failed expectation.
    static func summary(of sweep: SweepResults, missing: [UInt64] = [], chaos: ChaosLevel? = nil) -> String {
        let chaosArgument = chaos.map { " --chaos \($0.rawValue)" } ?? ""
        let results = sweep.results
        let failed = results.filter { !$0.passed }
        var lines = [
            "sweep of \(sweep.scenario): seeds \(sweep.firstSeed)..\(sweep.lastSeed)\(sweep.shard.map { ", shard \($0)" } ?? ""), "
                + "\(results.count) run, \(failed.count) failed"
        ]
        if !missing.isEmpty {
            let counted = missing.count == SweepResults.missingListedAtMost ? "\(missing.count) or more" : "\(missing.count)"
            lines.append("  no result for \(counted) seed(s): "
                + missing.prefix(20).map { "\($0)" }.joined(separator: ", ") + (missing.count > 20 ? ", …" : ""))
        }
        let scenarioPath = sweep.scenario
        var groups: [String: [SeedResult]] = [:]
        for result in failed { groups[result.failures[0].expectation, default: []].append(result) }
        for (expectation, members) in groups.sorted(by: { ($0.value.count, $1.key) > ($1.value.count, $0.key) }) {
            let listed = members.prefix(20).map { "\($0.seed)" }.joined(separator: ", ") + (members.count > 20 ? ", …" : "")
            lines.append("  \(expectation) failed first on \(members.count) seed(s): \(listed)")
            let example = members[0]
            lines.append("    e.g. seed \(example.seed): \(example.failures[0].detail)")
            if let chaos = example.chaos { lines.append("    chaos drawn for it: " + chaos.joined(separator: "; ")) }
            lines.append("    replay: edgemesh sim \(scenarioPath) --seed \(example.seed)\(chaosArgument)")
        }
        return lines.joined(separator: "\n")
    }
}
