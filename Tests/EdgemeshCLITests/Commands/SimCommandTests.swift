import Foundation
import Testing

/// `edgemesh sim` as a user runs it: every scenario file passes, runs are reproducible across
/// processes, and bad input or a failed expectation gives the promised exit status.
@Suite struct SimCommandTests {
    /// `seed=<N> trace=<64 hex digits>`.
    static func isTraceLine(_ line: String) -> Bool {
        line.wholeMatch(of: /seed=\d+ trace=[0-9a-f]{64}/) != nil
    }

    @Test(arguments: EdgemeshProcess.scenarioFiles)
    func everyScenarioFileMeetsItsExpectations(_ file: String) throws {
        let result = try EdgemeshProcess.run(["sim", file])
        #expect(result.status == 0, "\(file):\n\(result.output)\n\(result.errors)")
        #expect(Self.isTraceLine(result.lastLine), "last line: \(result.lastLine)")
        // Verdict lines start with PASS or FAIL (failure reasons may quote "FAILED" from a library).
        #expect(!result.output.split(separator: "\n").contains { $0.hasPrefix("FAIL") })
    }

    @Test func sameSeedGivesTheSameTraceInTwoProcessesAndAnotherSeedAnother() throws {
        let file = "Scenarios/lossy-links.yaml"
        let first = try EdgemeshProcess.run(["sim", file, "--seed", "42"])
        let second = try EdgemeshProcess.run(["sim", file, "--seed", "42"])
        let other = try EdgemeshProcess.run(["sim", file, "--seed", "43"])
        #expect(first.lastLine.hasPrefix("seed=42 trace="))
        #expect(first.lastLine == second.lastLine)
        #expect(first.output == second.output, "the whole summary is reproducible, not just the hash")
        #expect(other.lastLine.hasPrefix("seed=43 trace="))
        #expect(other.lastLine.dropFirst(8) != first.lastLine.dropFirst(8))
    }

    @Test func traceFileHasOneLinePerRecord() throws {
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let tracePath = directory.appendingPathComponent("trace.txt").path
        let result = try EdgemeshProcess.run(["sim", "Scenarios/nat-hole-punching.yaml", "--trace", tracePath])
        #expect(result.status == 0)
        let lines = try String(contentsOfFile: tracePath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count > 100)
        #expect(lines.contains { $0.contains(" delivered ") && $0.contains("udp") })
        #expect(lines.contains { $0.contains(" dropped ") && $0.contains("reason=filtered") },
            "the symmetric NAT pair's punches are filtered, and the trace says so")
    }

    @Test func invalidScenarioExitsTwoNamingFileAndField() throws {
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("broken.yaml").path
        try """
            name: broken
            duration: 10s
            network:
              networks:
                - {name: internet, subnet: 203.0.113.0/24}
              nodes:
                - {name: edge-1, network: lan-c}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try EdgemeshProcess.run(["sim", path])
        #expect(result.status == 2)
        #expect(result.errors.contains("broken.yaml"))
        #expect(result.errors.contains("network.nodes[0].network"))
        #expect(result.errors.contains("lan-c"))
    }

    @Test func unmetExpectationExitsOneNamingIt() throws {
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("partitioned.yaml").path
        try """
            name: partitioned
            duration: 30s
            network:
              networks:
                - {name: lan, subnet: 10.0.0.0/24}
              nodes:
                - {name: a, network: lan}
                - {name: b, network: lan}
            workloads:
              - {name: web, node: b, kind: http-server, port: 80}
              - {name: probe, node: a, kind: client, protocol: http, target: b:80, count: 10, timeout: 2s}
            faults:
              - {at: 0s, partition: {a: [a], b: [b]}}
            expect:
              - {workload: probe, successRatio: {min: 0.9}}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try EdgemeshProcess.run(["sim", path])
        #expect(result.status == 1)
        #expect(result.output.contains("FAIL  probe: success ratio 0 (0/10)"))
        #expect(Self.isTraceLine(result.lastLine))
    }

    @Test(.enabled(if: EdgemeshProcess.which("tshark") != nil, "needs tshark (scripts/install-deps installs it)"))
    func pcapFilesDissectCleanlyWithTshark() throws {
        let tshark = try #require(EdgemeshProcess.which("tshark"))
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try EdgemeshProcess.run(["sim", "Scenarios/nat-hole-punching.yaml", "--pcap", directory.path])
        #expect(result.status == 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".pcap") }
        #expect(files.contains("nat-symmetric.pcap") && files.contains("public-1.pcap"))
        for file in files {
            let path = directory.appendingPathComponent(file).path
            let dissected = try EdgemeshProcess.run(
                executable: tshark,
                ["-r", path, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
                 "-T", "fields", "-e", "frame.protocols", "-e", "_ws.malformed", "-e", "ip.checksum.status",
                 "-e", "udp.checksum.status", "-e", "tcp.checksum.status"])
            #expect(dissected.status == 0, "\(file): \(dissected.errors)")
            let rows = dissected.output.split(separator: "\n")
            #expect(!rows.isEmpty, "\(file) has packets")
            for row in rows {
                let fields = row.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                #expect(fields[0].hasPrefix("eth:ethertype:ip:"), "\(file): \(row)")
                #expect(fields[1].isEmpty, "\(file): malformed packet \(row)")
                // tshark checksum status: 0 bad, 1 good, 2 unverified; checking is switched on above.
                #expect(fields.dropFirst(2).allSatisfy { $0.isEmpty || $0 == "1" }, "\(file): bad checksum \(row)")
            }
        }
    }

    @Test func helpListsEverySubcommand() throws {
        let result = try EdgemeshProcess.run(["--help"])
        #expect(result.status == 0)
        #expect(result.output.contains("sim"))
        #expect(result.output.contains("validate"))
    }
}
