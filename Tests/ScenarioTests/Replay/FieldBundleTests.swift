import Foundation
import Testing
import TestFixtures

@testable import Scenario

/// The file `edgemesh capture` writes and scenario files name: a tar of the node's capture,
/// its agent's table and status.
@Suite("field bundle")
struct FieldBundleTests {
    private static let table = #"""
        {"apiVersion": "v1", "kind": "List", "items": [
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default", "resourceVersion": "3"},
           "spec": {"clusterIP": "10.96.0.60", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}]}
        """#

    private func bundle() throws -> FieldBundle {
        let capture = try Data(contentsOf: URL(fileURLWithPath: CaptureReplayTests.fieldCapture))
        return FieldBundle(members: [
            (FieldBundle.infoMember, Array(#"{"node": "edge-a1"}"#.utf8)),
            (FieldBundle.captureMember, Array(capture)),
            (FieldBundle.tableMember, Array(Self.table.utf8)),
        ])
    }

    @Test("the archive reads back member for member, and tar lists it")
    func roundTrip() throws {
        let bytes = try bundle().encoded(modificationTime: 1_765_000_000)
        #expect(FieldBundle.isBundle(bytes))
        #expect(bytes.count % 512 == 0)
        let read = try FieldBundle(reading: bytes)
        #expect(read.members.map(\.name) == [FieldBundle.infoMember, FieldBundle.captureMember, FieldBundle.tableMember])
        #expect(read.member(FieldBundle.tableMember) == Array(Self.table.utf8))
        #expect(read.member(FieldBundle.captureMember) == (try bundle()).member(FieldBundle.captureMember))

        let path = NSTemporaryDirectory() + "bundle-\(UInt32.random(in: 0...UInt32.max)).tar"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        tar.arguments = ["tar", "-tf", path]
        let output = Pipe()
        tar.standardOutput = output
        try tar.run()
        let listing = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        tar.waitUntilExit()
        #expect(listing == "bundle.json\ncapture.pcap\ntable.json\n")
    }

    @Test("a damaged header or a member cut short is refused, saying which")
    func damaged() throws {
        var bytes = try bundle().encoded()
        bytes[10] ^= 0xFF
        #expect(throws: FieldBundleError.self) { try FieldBundle(reading: bytes) }
        let cut = Array(try bundle().encoded().prefix(2048))
        let error = #expect(throws: FieldBundleError.self) { try FieldBundle(reading: cut) }
        #expect(error?.description.contains("capture.pcap") == true, "\(error.map { "\($0)" } ?? "")")
        #expect(throws: FieldBundleError.self) {
            try FieldBundle.contents(of: FieldBundle(members: [("other", [1])]).encoded(), member: FieldBundle.captureMember)
        }
    }

    @Test("a scenario takes the capture for a replay and the table for its manifests from one bundle")
    func scenarioLoadsABundle() throws {
        let directory = NSTemporaryDirectory() + "bundle-scenario-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data(try bundle().encoded()).write(to: URL(fileURLWithPath: "\(directory)/field.bundle"))
        let yaml = """
            name: from-the-field
            duration: 1m
            network:
              networks: [{name: lan, subnet: 10.244.0.0/24}]
              nodes: [{name: a, network: lan}]
            manifests: [field.bundle]
            workloads:
              - {name: r, node: a, kind: replay, pcap: field.bundle}
            """
        let scenario = try ScenarioParser.parse(yaml: yaml, source: "\(directory)/scenario.yaml")
        #expect(scenario.manifests.map(\.kind) == ["Service"])
        #expect(scenario.manifests.first?.name == "web")
        guard case .replay(let replay) = scenario.workloads.first?.kind else { Issue.record("no replay"); return }
        #expect(replay.flows.count == 4)
    }
}
