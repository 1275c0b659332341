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

    static func flow(
        to backend: String, on node: String?, path: PeerPathKind, via: String?, service: String = "default/web:http"
    ) -> ProxiedFlow {
        ProxiedFlow(
            id: 1, service: service, transport: .tcp, client: "10.0.0.1:40000", backend: backend, node: node, path: path,
            tunnelled: node != nil, via: via, openedAt: 0)
    }

    @Test func safetyFailsForAFlowToABackendTheAgentDidNotHold() throws {
        let (monitor, _) = try Self.monitor()
        monitor.tableChanged(on: "a", services: Self.web(["10.0.0.1:8080"]), at: 0)
        monitor.flowCarried(Self.flow(to: "10.0.0.1:8080", on: nil, path: .local, via: "10.0.0.1:8080"), on: "a", at: 5 * Self.s)
        #expect(try Self.verdict("safety", of: monitor).passed)
        monitor.flowCarried(Self.flow(to: "10.0.0.2:8080", on: nil, path: .direct, via: "10.0.0.2:8080"), on: "a", at: 6 * Self.s)
        let verdict = try Self.verdict("safety", of: monitor)
        #expect(verdict.violatedAt == 6 * Self.s)
        #expect(verdict.detail.contains("a's agent carried a tcp flow of 10.0.0.1:40000 to 10.0.0.2:8080") && verdict.detail.contains("held: 10.0.0.1:8080"), "\(verdict.detail)")
    }

    /// Flows between the observed-paths scenario's NATed LANs: where each was sent must agree
    /// with the path reported for it.
    @Test func observedPathFailsForAFlowSentElsewhereThanItsPathSays() throws {
        let scenario = ObservedPathTests.scenario
        let simulator = try Simulator(seed: 1, topology: scenario.topology)
        let monitor = InvariantMonitor(scenario: scenario, testbed: SimTestbed(simulator: simulator, mesh: nil))
        monitor.attach()
        let backend = "192.168.2.10:2701"
        // Through the relay; punched to nat-b's WAN address; to the node's own address.
        monitor.flowCarried(Self.flow(to: backend, on: "edge-b1", path: .relayed, via: "198.51.100.10:20008"), on: "edge-a1", at: Self.s)
        monitor.flowCarried(Self.flow(to: backend, on: "edge-b1", path: .holePunched, via: "203.0.113.20:41000"), on: "edge-a1", at: Self.s)
        monitor.flowCarried(Self.flow(to: backend, on: "edge-b1", path: .direct, via: "192.168.2.10:20006"), on: "edge-a1", at: Self.s)
        #expect(try Self.verdict("observed-path", of: monitor).passed)
        // Reported direct, but sent to the relay.
        monitor.flowCarried(Self.flow(to: backend, on: "edge-b1", path: .direct, via: "198.51.100.10:20008"), on: "edge-a1", at: 2 * Self.s)
        let verdict = try Self.verdict("observed-path", of: monitor)
        #expect(verdict.violatedAt == 2 * Self.s)
        #expect(verdict.detail == "edge-a1's agent reported a flow to 192.168.2.10:2701 on edge-b1 as direct, but it was sent to the relay at 198.51.100.10", "\(verdict.detail)")
        // Reported relayed, but sent to nat-a (the client's own side), no relay.
        monitor.flowCarried(Self.flow(to: backend, on: "edge-b1", path: .relayed, via: "203.0.113.10:5000"), on: "edge-a1", at: Self.s)
        #expect(try Self.verdict("observed-path", of: monitor).detail.contains("as relayed, but it was sent to 203.0.113.10, no relay's"))
    }

    static func answer(_ name: String, _ addresses: [String], code: DNSResponseCode = .noError) throws -> DNSMessage {
        let query = DNSMessage(questions: [DNSQuestion(name: try DNSName(name), type: .a)])
        var response = query.makeResponse(responseCode: code, isAuthoritative: true)
        response.answers = try addresses.map { address in
            DNSResourceRecord(name: try DNSName(name), ttl: 5, data: .a(try #require(IPv4Address(address))))
        }
        return response
    }

    @Test func dnsAnswersFailsForAnAddressTheTableDidNotGiveTheName() throws {
        let (monitor, _) = try Self.monitor()
        monitor.tableChanged(on: "a", services: Self.web(["10.0.0.1:8080"]), at: 0)
        monitor.dnsAnswered(try Self.answer("web.default.svc.cluster.local", ["10.96.0.5"]), on: "a", at: Self.s)
        monitor.dnsAnswered(try Self.answer("nothing.default.svc.cluster.local", [], code: .nameError), on: "a", at: Self.s)
        // Names outside the service form are not judged.
        monitor.dnsAnswered(try Self.answer("example.com", ["93.184.216.34"]), on: "a", at: Self.s)
        #expect(try Self.verdict("dns-answers", of: monitor).passed)
        // The cluster IP moved at 10 s: an answer with the old one after that is stale (a cache
        // that outlived the table's change, say).
        monitor.tableChanged(on: "a", services: [ServiceEndpointView(key: "default/web", clusterIP: "10.96.0.6", backends: [])], at: 10 * Self.s)
        monitor.dnsAnswered(try Self.answer("web.default.svc.cluster.local", ["10.96.0.5"]), on: "a", at: 11 * Self.s)
        let verdict = try Self.verdict("dns-answers", of: monitor)
        #expect(verdict.violatedAt == 11 * Self.s)
        #expect(verdict.detail == "a's agent answered web.default.svc.cluster.local. with 10.96.0.5, not what its table gave the name then (10.96.0.6)", "\(verdict.detail)")
    }

    @Test func dnsAnswersFailsForNoSuchNameWhileTheTableHeldTheService() throws {
        let (monitor, _) = try Self.monitor()
        monitor.tableChanged(on: "a", services: Self.web([]), at: 0)
        // At the very instant the service appears, either answer is right.
        monitor.tableChanged(on: "a", services: Self.web([]) + [ServiceEndpointView(key: "default/api", clusterIP: "10.96.0.7", backends: [])], at: 5 * Self.s)
        monitor.dnsAnswered(try Self.answer("api.default.svc.cluster.local", [], code: .nameError), on: "a", at: 5 * Self.s)
        #expect(try Self.verdict("dns-answers", of: monitor).passed)
        monitor.dnsAnswered(try Self.answer("WEB.default.svc.cluster.local", [], code: .nameError), on: "a", at: 6 * Self.s)
        let verdict = try Self.verdict("dns-answers", of: monitor)
        #expect(verdict.detail == "a's agent answered WEB.default.svc.cluster.local. with NXDOMAIN while its table held default/web", "\(verdict.detail)")
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
        #expect(report.invariants.map(\.name) == ["agents-alive", "safety", "no-plaintext", "bounded-sockets", "dns-answers", "observed-path"])
        let lines = report.invariants.map(\.line)
        #expect(report.invariants.allSatisfy { $0.passed }, "\(lines)")
    }
}
