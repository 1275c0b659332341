import Foundation
import Testing

/// `edgemesh sim FILE --seed N --chaos LEVEL --shrink`: a failing seed becomes the smallest
/// scenario file that still fails the same way.
@Suite struct ShrinkCommandTests {
    /// The quickstart judged one second after its drawn faults: the planted bug is the missing
    /// settle time. Seed 6 with low chaos draws the cloud going away and a reboot of nat-a; the
    /// reboot alone makes client-a fail (its punched connection stays dead until the keepalive
    /// gives it up, 35 to 45 s).
    @Test func aFailingSeedShrinksToTheOneFaultThatBreaksIt() throws {
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let quickstart = try String(contentsOfFile: "Scenarios/quickstart.yaml", encoding: .utf8)
        let planted = directory.appendingPathComponent("planted.yaml").path
        try quickstart.replacingOccurrences(of: "\nexpect:\n", with: "\nchaos: {from: 20s, until: 60s, settle: 1s}\n\nexpect:\n")
            .write(toFile: planted, atomically: true, encoding: .utf8)
        let shrunk = directory.appendingPathComponent("shrunk.yaml").path

        let shrink = try EdgemeshProcess.run(["sim", planted, "--seed", "6", "--chaos", "low", "--shrink", "--shrunk", shrunk])
        #expect(shrink.status == 0, "\(shrink.output)\(shrink.errors)")
        #expect(shrink.lastLine.contains("to 1 fault(s), 0 object change(s)") && shrink.lastLine.contains("still fails first on client-a successRatio.min"),
            "\(shrink.lastLine)")
        let text = try String(contentsOfFile: shrunk, encoding: .utf8)
        #expect(text.contains("natReboot: nat-a") && !text.contains("cloudUnreachable"), "\(text)")
        #expect(text.contains("name: client-a") && !text.contains("name: a-to-cloud") && !text.contains("name: client-b"))
        #expect(text.contains("judgeFrom:") && !text.contains("chaos:"))

        // The file replays the failure on its own, without --chaos.
        let replay = try EdgemeshProcess.run(["sim", shrunk])
        #expect(replay.status == 1)
        #expect(replay.output.contains("FAIL  client-a: success ratio 0.874 (118/135)"), "\(replay.output)")
    }

    @Test func aPassingSeedHasNothingToShrink() throws {
        let run = try EdgemeshProcess.run(["sim", "Scenarios/quickstart.yaml", "--seed", "1", "--chaos", "low", "--shrink"])
        #expect(run.status == 2)
        #expect(run.errors.contains("the run passes: nothing to shrink"))
    }
}
