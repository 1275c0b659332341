import Foundation
import Testing

/// `edgemesh sim SCENARIO --seeds A..B`: every seed run in its own process, the failing ones
/// grouped by the first expectation that failed, each replayable alone with the same verdict.
@Suite struct SeedSweepTests {
    /// A client on a link that loses a fifth of its packets, asked never to fail: most seeds
    /// lose a request, some do not.
    static let flaky = """
        name: flaky
        duration: 30s
        network:
          networks: [{name: lan, subnet: 10.0.0.0/24}]
          nodes:
            - {name: server, network: lan}
            - {name: client, network: lan, link: {latency: 5ms, loss: 20%}}
        workloads:
          - {name: web, node: server, kind: http-server, port: 80}
          - {name: probe, node: client, kind: client, protocol: http, target: server:80, count: 4, interval: 5s, timeout: 1s}
        expect:
          - {workload: probe, successRatio: {min: 1.0}}
        """

    @Test func failingSeedsAreGroupedAndEachReplaysAlone() throws {
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("flaky.yaml").path
        try Self.flaky.write(toFile: file, atomically: true, encoding: .utf8)

        let sweep = try EdgemeshProcess.run(["sim", file, "--seeds", "1..12", "--jobs", "2"])
        #expect(sweep.status == 1, "a failing seed fails the sweep")
        #expect(sweep.output.contains("seeds 1..12, 12 run, 10 failed"), "\(sweep.output)")
        #expect(sweep.output.contains("probe successRatio.min failed first on 10 seed(s): 1, 2, 3, 4, 5, 6, 7, 8, 11, 12"))
        #expect(sweep.output.contains("replay: edgemesh sim \(file) --seed 1"))
        #expect(sweep.errors.contains("seeds 12/12 done, 10 failed"), "the progress line: \(sweep.errors)")
        // The sweep's verdict for a seed is that seed's run, replayed alone.
        #expect(try EdgemeshProcess.run(["sim", file, "--seed", "1"]).status == 1)
        #expect(try EdgemeshProcess.run(["sim", file, "--seed", "9"]).status == 0)
    }

    @Test func aSweepWhereEverySeedPassesSucceeds() throws {
        let sweep = try EdgemeshProcess.run(["sim", "Scenarios/conntrack-collision.yaml", "--seeds", "1..4", "--jobs", "2"])
        #expect(sweep.status == 0, "\(sweep.output)\(sweep.errors)")
        #expect(sweep.output.contains("seeds 1..4, 4 run, 0 failed"))
    }

    @Test(arguments: [["--seeds", "5..2"], ["--seeds", "1..3", "--seed", "2"], ["--seeds", "1..3", "--jobs", "0"]])
    func aSweepThatMakesNoSenseIsRefused(arguments: [String]) throws {
        let result = try EdgemeshProcess.run(["sim", "Scenarios/quickstart.yaml"] + arguments)
        #expect(result.status == 2, "\(result.errors)")
        #expect(result.output.isEmpty, "nothing ran")
    }
}

/// Sweeps that outgrow one machine: shards run apart (a CI matrix, an indexed Job) and merge.
@Suite struct SeedSweepShardTests {
    @Test func shardsMergeIntoTheWholeSweepAndAMissingShardIsNamed() throws {
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("flaky.yaml").path
        try SeedSweepTests.flaky.write(toFile: file, atomically: true, encoding: .utf8)
        var parts: [String] = []
        for index in 0..<3 {
            let part = directory.appendingPathComponent("shard-\(index).json").path
            let shard = try EdgemeshProcess.run(["sim", file, "--seeds", "1..12", "--shard", "\(index)/3", "--results", part])
            #expect(shard.output.contains("shard \(index)/3, 4 run"), "\(shard.output)")
            parts.append(part)
        }
        let merged = try EdgemeshProcess.run(["sim", "--merge"] + parts)
        #expect(merged.status == 1)
        #expect(merged.output.contains("seeds 1..12, 12 run, 10 failed"), "\(merged.output)")
        #expect(merged.output.contains("failed first on 10 seed(s): 1, 2, 3, 4, 5, 6, 7, 8, 11, 12"), "the same as one sweep")
        let partial = try EdgemeshProcess.run(["sim", "--merge", parts[0], parts[2]])
        #expect(partial.output.contains("no result for 4 seed(s): 2, 5, 8, 11"), "\(partial.output)")
    }

    /// deploy/edgemesh-sweep-job.yaml's arguments, as the Job controller expands them for pod 0
    /// (with the range cut short and the mounts moved here), run a shard and write its results.
    @Test func theIndexedJobsArgumentsRunAShard() throws {
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let text = try String(contentsOf: EdgemeshProcess.packageRoot.appendingPathComponent("deploy/edgemesh-sweep-job.yaml"), encoding: .utf8)
        let arguments = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .drop { $0 != "args:" }.dropFirst().prefix { $0.hasPrefix("- ") }.map { String($0.dropFirst(2)) }
        #expect(arguments.first == "sim" && arguments.contains("--shard=$(JOB_COMPLETION_INDEX)/8"), "\(arguments)")
        try SeedSweepTests.flaky.write(toFile: directory.appendingPathComponent("scenario.yaml").path, atomically: true, encoding: .utf8)
        let expanded = arguments.map { argument in
            argument.replacingOccurrences(of: "$(JOB_COMPLETION_INDEX)", with: "0")
                .replacingOccurrences(of: "/scenario/", with: directory.path + "/")
                .replacingOccurrences(of: "/results/", with: directory.path + "/")
                .replacingOccurrences(of: "1..80000", with: "1..16")
        }
        let shard = try EdgemeshProcess.run(expanded)
        #expect(shard.output.contains("seeds 1..16, shard 0/8, 2 run"), "\(shard.output)\(shard.errors)")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("shard-0.json").path))
    }
}

/// `--chaos LEVEL`: extra faults from the seed, printed, replayable.
@Suite struct ChaosCommandTests {
    @Test func theDrawnFaultsArePrintedAndTheRunReplaysExactly() throws {
        let first = try EdgemeshProcess.run(["sim", "Scenarios/quickstart.yaml", "--chaos", "medium", "--seed", "4"])
        let lines = first.output.split(separator: "\n")
        #expect(lines.first?.hasPrefix("chaos medium (5 faults), drawn from seed 4; judged from ") == true, "\(lines.first ?? "")")
        #expect(lines.dropFirst().prefix { $0.hasPrefix("  ") }.count == 5)
        let again = try EdgemeshProcess.run(["sim", "Scenarios/quickstart.yaml", "--chaos", "medium", "--seed", "4"])
        #expect(again.output == first.output && again.status == first.status)
        let calm = try EdgemeshProcess.run(["sim", "Scenarios/quickstart.yaml", "--seed", "4"])
        #expect(calm.lastLine != first.lastLine, "the drawn faults change the run")
    }
}
