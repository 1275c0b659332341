import Mesh
import NIOCore
import NetworkTopology
import Testing
import TestFixtures

@testable import NetSim
@testable import Scenario
@testable import SimTestbed

/// Each invariant, made to fail by what breaks it; and the quickstart, where all hold.
@Suite struct InvariantMonitorTests {
    static let s = Nanoseconds.second
    /// Two nodes, a service "web" with two pods; a client on the first node calls it.
    static let scenario = try! ScenarioParser.parse(
        yaml: """
            name: invariants
            duration: 1m
            network:
              networks: [{name: lan, subnet: 10.0.0.0/24}]
              nodes: [{name: a, network: lan, address: 10.0.0.1}, {name: b, network: lan, address: 10.0.0.2}]
            mesh: {agents: [a, b]}
            workloads:
              - {name: pod-a, node: a, kind: http-server, port: 8080}
              - {name: pod-b, node: b, kind: http-server, port: 8080}
              - {name: client, node: a, kind: client, protocol: http, target: web:80, count: 1}
            """, source: "invariants.yaml")

    /// A monitor over a simulator of the scenario with no mesh running: the test plays the
    /// testbed's part, feeding it what it would observe.
    static func monitor(settlesAt: UInt64? = nil) throws -> (InvariantMonitor, RequestLog) {
        let (monitor, log, _) = try monitorAndSimulator(settlesAt: settlesAt)
        return (monitor, log)
    }

    static func monitorAndSimulator(settlesAt: UInt64? = nil) throws -> (InvariantMonitor, RequestLog, Simulator) {
        var scenario = Self.scenario
        scenario.settlesAt = settlesAt
        let simulator = try Simulator(seed: 1, topology: scenario.topology)
        let monitor = InvariantMonitor(scenario: scenario, testbed: SimTestbed(simulator: simulator, mesh: nil))
        monitor.attach()
        let log = RequestLog()
        monitor.watch(["client": log])
        return (monitor, log, simulator)
    }

    @Test func boundedSocketsFailsForANodeThatHoldsTooMany() throws {
        let (monitor, _, simulator) = try Self.monitorAndSimulator()
        let host = try #require(simulator.host(named: "b"))
        simulator.run(until: 6 * Self.s)
        #expect(try Self.verdict("bounded-sockets", of: monitor).passed)
        // A leak: a socket a second would take minutes; 300 at once shows at the next sample.
        for _ in 0..<300 {
            _ = host.bindDatagram(DatagramBindOptions(address: host.address.socketAddress(port: 0))) { _ in host.eventLoop.makeSucceededVoidFuture() }
        }
        simulator.run(until: 11 * Self.s)
        let verdict = try Self.verdict("bounded-sockets", of: monitor)
        #expect(verdict.violatedAt == 10 * Self.s && verdict.detail == "b held 300 sockets, more than 256", "\(verdict.detail)")
    }

    static func web(_ backends: Set<String>) -> [ServiceEndpointView] {
        [ServiceEndpointView(key: "default/web", clusterIP: "10.96.0.5", backends: backends)]
    }

    static func verdict(_ name: String, of monitor: InvariantMonitor) throws -> InvariantVerdict {
        try #require(monitor.verdicts().first { $0.name == name })
    }

    @Test func safetyFailsForAnAnswerFromABackendTheAgentNoLongerHeld() throws {
        let (monitor, log) = try Self.monitor()
        monitor.tableChanged(on: "a", services: Self.web(["10.0.0.1:8080", "10.0.0.2:8080"]), at: 0)
        monitor.tableChanged(on: "a", services: Self.web(["10.0.0.1:8080"]), at: 10 * Self.s)
        // Open while pod-b was still held: allowed.
        log.record(RequestOutcome(startedAt: .uptimeNanoseconds(9 * Self.s), latency: .seconds(2), succeeded: true, backend: "pod-b"))
        #expect(try Self.verdict("safety", of: monitor).passed)
        // Started after pod-b was taken out: the proxy must not have sent it there.
        log.record(RequestOutcome(startedAt: .uptimeNanoseconds(12 * Self.s), latency: .seconds(1), succeeded: true, backend: "pod-b"))
        let verdict = try Self.verdict("safety", of: monitor)
        #expect(verdict.violatedAt == 13 * Self.s)
        #expect(verdict.detail.contains("answered by pod-b (10.0.0.2:8080)") && verdict.detail.contains("held: 10.0.0.1:8080"), "\(verdict.detail)")
    }

    @Test func safetyResolvesServicesByClusterIPAndEveryDNSForm() {
        var history = EndpointHistory()
        history.note(Self.web(["10.0.0.1:8080"]), on: "a", at: 0)
        for host in ["web", "web.default", "web.default.svc", "web.default.svc.cluster.local", "10.96.0.5"] {
            #expect(history.service(forTargetHost: host, on: "a") == "default/web", "\(host)")
        }
        #expect(history.service(forTargetHost: "b", on: "a") == nil, "a node is no service")
        // A service the table stops holding has no backends from then on.
        history.note([], on: "a", at: 5 * Self.s)
        #expect(history.backends(of: "default/web", on: "a", from: 6 * Self.s, to: 7 * Self.s).isEmpty)
        #expect(history.backends(of: "default/web", on: "a", from: 4 * Self.s, to: 7 * Self.s) == ["10.0.0.1:8080"])
    }

    @Test func agentsAliveFailsWhenAnAgentDoesNotStart() throws {
        let (monitor, _) = try Self.monitor()
        monitor.agentStarted(on: "a", failure: nil, at: 0)
        #expect(try Self.verdict("agents-alive", of: monitor).passed)
        monitor.agentStarted(on: "b", failure: "address 127.0.0.1:53 is already in use", at: 3 * Self.s)
        let verdict = try Self.verdict("agents-alive", of: monitor)
        #expect(verdict.violatedAt == 3 * Self.s && verdict.detail.contains("the agent on b did not start"))
    }

    @Test func noPlaintextFailsWhenARouterForwardsARequestToAService() throws {
        let (monitor, _) = try Self.monitor()
        monitor.forwarded(payload: ByteBuffer(string: "\u{1}\u{2}sealed bytes"), at: "nat-a", time: Self.s)
        #expect(try Self.verdict("no-plaintext", of: monitor).passed)
        monitor.forwarded(payload: ByteBuffer(string: "GET / HTTP/1.1\r\nHost: web:80\r\n\r\n"), at: "nat-a", time: 2 * Self.s)
        let verdict = try Self.verdict("no-plaintext", of: monitor)
        #expect(verdict.violatedAt == 2 * Self.s && verdict.detail.contains("nat-a forwarded client's request"))
    }

    @Test func livenessFailsForAClientWithNoAnswerAfterTheChaosSettled() throws {
        let (monitor, log) = try Self.monitor(settlesAt: 20 * Self.s)
        log.record(RequestOutcome(startedAt: .uptimeNanoseconds(10 * Self.s), latency: .seconds(5), succeeded: false, failure: "timed out"))
        #expect(try Self.verdict("liveness", of: monitor).passed, "before the settle point, failures are the chaos's")
        log.record(RequestOutcome(startedAt: .uptimeNanoseconds(25 * Self.s), latency: .seconds(5), succeeded: false, failure: "timed out"))
        let verdict = try Self.verdict("liveness", of: monitor)
        #expect(!verdict.passed && verdict.detail.contains("client sent 1 request(s) after the chaos settled and none was answered"))
    }

    /// The table half of liveness, in a real run: an agent cut off from the API server after the
    /// settle point cannot follow a change made then; ten seconds later the invariant says so.
    @Test func livenessFailsForATableThatStopsFollowingItsSource() throws {
        var scenario = try ScenarioParser.load(path: "\(RepositoryFiles.scenarios)/quickstart.yaml")
        scenario.settlesAt = 120 * Self.s
        scenario.faults = [FaultSpec(at: 125 * Self.s, kind: .partition(a: ["edge-a1"], b: ["cloud-1"], oneWay: false))]
        scenario.changes = [ObjectChangeSpec(at: 130 * Self.s, action: .delete(kind: "Endpoints", namespace: "default", name: "web-b"))]
        let report = try ScenarioRunner(scenario: scenario).run()
        let verdict = try #require(report.invariants.first { $0.name == "liveness" })
        #expect(!verdict.passed)
        #expect(verdict.detail.contains("the agent on edge-a1 differed from its source"), "\(verdict.detail)")
        #expect(verdict.violatedAt.map { $0 >= 130 * Self.s && $0 <= 132 * Self.s } == true)
    }

    @Test func everyInvariantHoldsThroughTheQuickstart() throws {
        let report = try ScenarioRunner(scenario: try ScenarioParser.load(path: "\(RepositoryFiles.scenarios)/quickstart.yaml")).run()
        #expect(report.invariants.map(\.name) == ["agents-alive", "safety", "no-plaintext", "bounded-sockets"])
        let lines = report.invariants.map(\.line)
        #expect(report.invariants.allSatisfy { $0.passed }, "\(lines)")
    }
}
