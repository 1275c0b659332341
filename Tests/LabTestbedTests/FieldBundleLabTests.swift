import Foundation
import Scenario
import SimTestbed
import TestFixtures
import Testing

@testable import LabTestbed

/// A field issue end to end: `edgemesh capture` on a node of a lab run writes a bundle, and the
/// simulator replays the node's flows against the services its agent held, answered as on
/// the kernel.
@Suite("field bundle: captured on the kernel, replayed in the simulator", .enabled(if: LabMachine.canRun, LabMachine.reason))
struct FieldBundleLabTests {
    private static let network = """
        network:
          networks: [{name: lan, subnet: 192.168.50.0/24}]
          nodes:
            - {name: field-a, network: lan, address: 192.168.50.10}
            - {name: field-b, network: lan, address: 192.168.50.11}
        mesh: {agents: [field-a, field-b]}
        """
    private static let servers = """
          - {name: web, node: field-b, kind: http-server, port: 8080}
          - {name: echo, node: field-b, kind: udp-echo, port: 5000}
        """

    @Test("the flows a pod sent to cluster IPs on the kernel are answered in the simulator")
    func captureThenReplay() throws {
        let directory = NSTemporaryDirectory() + "field-bundle-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lab = try ScenarioParser.parse(yaml: """
            name: field-capture
            duration: 25s
            \(Self.network)
            kubernetes:
              - {apiVersion: v1, kind: Service, metadata: {name: web, namespace: default},
                 spec: {clusterIP: 10.96.0.60, ports: [{name: http, port: 80, targetPort: 8080}]}}
              - {apiVersion: v1, kind: Endpoints, metadata: {name: web, namespace: default},
                 subsets: [{addresses: [{ip: 192.168.50.11, nodeName: field-b}], ports: [{name: http, port: 8080}]}]}
              - {apiVersion: v1, kind: Service, metadata: {name: echo, namespace: default},
                 spec: {clusterIP: 10.96.0.61, ports: [{name: udp, port: 5000, protocol: UDP}]}}
              - {apiVersion: v1, kind: Endpoints, metadata: {name: echo, namespace: default},
                 subsets: [{addresses: [{ip: 192.168.50.11, nodeName: field-b}], ports: [{name: udp, port: 5000, protocol: UDP}]}]}
            workloads:
            \(Self.servers)
              - {name: pod-http, node: field-a, kind: client, protocol: http, target: web:80, start: 6s, interval: 2s, count: 5, timeout: 3s}
              - {name: pod-udp, node: field-a, kind: client, protocol: udp, target: echo:5000, start: 7s, interval: 2s, count: 5, timeout: 3s}
            """, source: "\(directory)/field-capture.yaml")
        let runner = try LabRunner(scenario: lab, options: LabRunner.Options(executable: RepositoryFiles.edgemeshBinary.path))
        let outcome = LabOutcome()
        let finished = DispatchSemaphore(value: 0)
        Thread {
            outcome.set(Result { try runner.run().report })
            finished.signal()
        }.start()

        // The run's namespace of field-a, once it exists; then 15 s of capture on that node.
        let prefix = "emlab\(getpid())-"
        var namespace: String?
        for _ in 0..<100 where namespace == nil {
            Thread.sleep(forTimeInterval: 0.1)
            namespace = (try? LabShell.run(["ip", "netns", "list"]))?.split(separator: "\n")
                .map { String($0.split(separator: " ")[0]) }.first { $0.hasPrefix(prefix) && $0.hasSuffix("-field-a") }
        }
        let node = try #require(namespace)
        let bundle = "\(directory)/field.bundle"
        let said = try LabShell.run([
            "ip", "netns", "exec", node, RepositoryFiles.edgemeshBinary.path, "capture", "--node-name", "field-a",
            "--duration", "15s", "--output", bundle,
        ])
        finished.wait()
        let real = try #require(try outcome.get())
        #expect(said.contains("the agent's table and status"), "\(said)")
        #expect(real.workloads.filter { !$0.isServer }.allSatisfy { $0.succeeded == $0.attempted && $0.attempted > 0 }, "\(real.renderTable())")

        let replay = try ScenarioParser.parse(yaml: """
            name: field-replayed
            duration: 40s
            \(Self.network)
            manifests: [field.bundle]
            workloads:
            \(Self.servers)
              - {name: field, node: field-a, kind: replay, pcap: field.bundle, only: [10.96.0.0/12], start: 5s}
            expect:
              - {workload: field, successRatio: {min: 1}}
            """, source: "\(directory)/field-replayed.yaml")
        guard case .replay(let spec) = replay.workloads.last?.kind else { Issue.record("no replay"); return }
        // The HTTP requests and the datagrams the pod sent while the capture ran.
        #expect(spec.flows.count >= 6, "\(spec.flows)")
        #expect(Set(replay.manifests.map(\.kind)).isSuperset(of: ["Service", "Endpoints"]))
        let simulated = try ScenarioRunner(scenario: replay).run()
        #expect(simulated.passed, "\(simulated.renderTable())")
    }
}

/// The lab run's report, handed from the thread that ran it.
private final class LabOutcome: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<ScenarioReport, any Error>?

    func set(_ result: Result<ScenarioReport, any Error>) { lock.withLock { self.result = result } }

    func get() throws -> ScenarioReport? { try lock.withLock { result }?.get() }
}
