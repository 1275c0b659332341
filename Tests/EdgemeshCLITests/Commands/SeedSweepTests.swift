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
