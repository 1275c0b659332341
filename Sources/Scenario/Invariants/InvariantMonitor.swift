import Mesh
import NIOCore
import NetworkTopology

/// Checks the invariants of a run while it runs, not only at the end:
///
/// - **agents-alive**: every agent starts, at the start of the run and after every boot (a crash
///   of the agent's process is the run's own failure: a sweep reports it for the seed).
/// - **safety**: every answer a client gets through a service comes from a backend its node's
///   agent held for that service at some moment while the request was open; and every flow an
///   agent carries goes to a backend it held for the service within `flowChoiceWindow` before.
/// - **no-plaintext**: no router forwards the Host line of a request a client sent to a service
///   (the mesh carries it between nodes inside the tunnel, encrypted).
/// - **liveness** (with chaos): from the settle point on, every running agent's table equals
///   its source (a difference may last `tableGrace`, a change in flight), and every client that
///   sends requests has some answered (unless the file expects it to fail).
/// - **observed-path**: the path an agent reports for a flow (`GET /flows`) is the one its bytes
///   took: a relayed flow was sent to a relay's address; a direct or punched one to an address
///   of the backend's node (its own, or the WAN address of a router in front of it), never a
///   relay's. The scenario's path expectations count these reports.
/// - **dns-answers**: every A answer an agent's DNS server gives for a service's name
///   (`name.namespace.svc.<domain>`, from its cache or not) lists only addresses the agent's
///   table gave that name at that moment (its cluster IP, a headless service's endpoints), and
///   no service the table held throughout is answered "no such name".
/// - **bounded-sockets**: no agent node ever holds more than `maximumSocketsPerNode` sockets
///   (agent and workloads together, sampled every 5 s): what a leak of connections, half-open
///   punches or sessions would break first.
///
/// A testbed feeds what it can observe (`ScenarioTestbed.attach`); an invariant it cannot feed
/// is reported as not judged. Confined to the testbed's schedule, as the testbed is.
public final class InvariantMonitor {
    public enum Invariant: String, CaseIterable, Sendable {
        case agentsAlive = "agents-alive"
        case safety
        case noPlaintext = "no-plaintext"
        case liveness
        case boundedSockets = "bounded-sockets"
        case observedPath = "observed-path"
        case dnsAnswers = "dns-answers"
    }

    /// How long before a flow opened its backend may have been chosen (dials, retries and a
    /// tunnel connection being set up): the backend must have been in the table then.
    public static let flowChoiceWindow = 30 * Nanoseconds.second

    /// Sockets an agent node may hold at once: four times the most any scenario file's node
    /// holds under high chaos (58, the quickstart's edge-a2), so a leak of a socket a request
    /// or a fault shows within a run.
    public static let maximumSocketsPerNode = 256
    /// How often sockets are counted.
    public static let socketSampleInterval = 5 * Nanoseconds.second

    /// How long an agent's table may differ from its source after the settle point: a change
    /// on its way over a slow link, not a table that stopped following.
    public static let tableGrace = 10 * Nanoseconds.second

    public let scenario: Scenario
    private let testbed: any ScenarioTestbed
    private var history = EndpointHistory()
    /// Pod name of each HTTP server workload to the "ip:port" it answers on.
    private let backendAddresses: [String: String]
    private var violations: [Invariant: (at: UInt64, detail: String)] = [:]
    private var fed: Set<Invariant> = []
    private var answersChecked = 0
    private var forwardedPayloads = 0
    private var agentStarts = 0
    private var tableChecks = 0
    /// The most sockets each agent node held at a sample.
    private var peakSockets: [String: Int] = [:]
    /// Per agent node, since when its table has differed from the source (with the difference).
    private var mismatchSince: [String: (at: UInt64, detail: String)] = [:]
    /// The request lines clients send to services, as they would appear in plaintext.
    private let markers: [(client: String, bytes: [UInt8])]
    private var logs: [String: RequestLog] = [:]
    /// The relays' addresses, and per node the addresses its packets are seen from on the way:
    /// its own and the WAN addresses of the routers between it and the internet.
    private let relayAddresses: Set<String>
    private let faces: [String: Set<String>]
    private var flowsChecked = 0
    private var tunnelledFlowsChecked = 0
    private var dnsAnswersChecked = 0
    /// The labels of the cluster domain ("cluster", "local"), lowercased.
    private let clusterDomain: [String]

    public init(scenario: Scenario, testbed: any ScenarioTestbed) {
        self.scenario = scenario
        self.testbed = testbed
        var addresses: [String: String] = [:]
        for workload in scenario.workloads {
            if let (podName, port) = workload.answeringPod, let address = testbed.address(of: workload.node) {
                addresses[podName] = addresses[podName] ?? "\(address):\(port)"
            }
        }
        backendAddresses = addresses
        clusterDomain = (scenario.mesh?.clusterDomain ?? "cluster.local").lowercased().split(separator: ".").map(String.init)
        relayAddresses = Set((scenario.mesh?.relays ?? []).compactMap { testbed.address(of: $0)?.description })
        faces = Self.faces(of: scenario.topology, addresses: { testbed.address(of: $0)?.description })
        // Requests to nodes (by name or address) cross routers as they are; only those to
        // services are the mesh's to carry.
        let names = scenario.topology.nodes.map(\.name) + scenario.topology.routers.map(\.name)
        let nodeHosts = Set(names + names.compactMap { testbed.address(of: $0)?.description })
        markers = scenario.workloads.compactMap { workload in
            guard case .client(let spec) = workload.kind, [.http, .httpKeepAlive, .websocket].contains(spec.protocol),
                let target = spec.targets.first, let hostPort = HostPort(target), !nodeHosts.contains(hostPort.host)
            else { return nil }
            return (workload.name, Array("Host: \(target)\r\n".utf8))
        }
    }

    /// Has the testbed report what it observes; call before the mesh starts, so the first
    /// agent starts are seen.
    public func attach() {
        fed = testbed.attach(self)
    }

    /// Judges the clients' answers as they come and schedules the liveness checks; call once
    /// the workloads are launched.
    public func watch(_ logs: [String: RequestLog]) {
        self.logs = logs
        guard scenario.mesh != nil else { return }
        for workload in scenario.workloads {
            guard case .client = workload.kind, let log = logs[workload.name] else { continue }
            log.onRecord { [weak self] outcome in self?.judgeAnswer(outcome, of: workload) }
        }
        if fed.contains(.boundedSockets) {
            for time in stride(from: 0, through: scenario.duration, by: Int(Self.socketSampleInterval)) {
                testbed.schedule(at: time) { [weak self] in self?.countSockets(at: time) }
            }
        }
        if let settled = scenario.settlesAt, fed.contains(.liveness) {
            for time in stride(from: settled, to: scenario.duration, by: Int(Nanoseconds.second)) {
                testbed.schedule(at: time) { [weak self] in self?.checkTables(at: time) }
            }
        }
    }

    // MARK: What the testbed reports

    /// An agent on `node` finished starting, with the error when it failed.
    public func agentStarted(on node: String, failure: String?, at time: UInt64) {
        agentStarts += 1
        if let failure { violate(.agentsAlive, at: time, "the agent on \(node) did not start: \(failure)") }
    }

    /// The services the agent on `node` holds now (at its start and after each table change).
    public func tableChanged(on node: String, services: [ServiceEndpointView], at time: UInt64) {
        history.note(services, on: node, at: time)
    }

    /// A router forwarded a packet with this payload.
    public func forwarded(payload: ByteBuffer, at router: String, time: UInt64) {
        guard !markers.isEmpty, payload.readableBytes > 0 else { return }
        forwardedPayloads += 1
        payload.withUnsafeReadableBytes { bytes in
            for marker in markers where Self.contains(bytes, marker.bytes) {
                violate(.noPlaintext, at: time, "\(router) forwarded \(marker.client)'s request in plaintext (\"\(String(decoding: marker.bytes.dropLast(2), as: UTF8.self))\")")
            }
        }
    }

    /// The agent on `node` carried `flow` (it opened at `time`).
    public func flowCarried(_ flow: ProxiedFlow, on node: String, at time: UInt64) {
        let service = String(flow.service.prefix { $0 != ":" })
        if history.knows(service, on: node) {
            flowsChecked += 1
            let allowed = history.backends(of: service, on: node, from: time - min(time, Self.flowChoiceWindow), to: time)
            if !allowed.contains(flow.backend) {
                violate(
                    .safety, at: time,
                    "\(node)'s agent carried a \(flow.transport.rawValue) flow of \(flow.client ?? "a client") to \(flow.backend), "
                        + "not a backend it held for \(service) in the \(Nanoseconds.format(Self.flowChoiceWindow)) before "
                        + "(held: \(allowed.isEmpty ? "none" : allowed.sorted().joined(separator: ", ")))")
            }
        }
        guard flow.tunnelled, let peer = flow.node else { return }
        tunnelledFlowsChecked += 1
        if let problem = pathProblem(of: flow, to: peer) {
            violate(.observedPath, at: time, "\(node)'s agent reported a flow to \(flow.backend) on \(peer) as \(flow.path.rawValue), but it was \(problem)")
        }
    }

    /// How a tunnelled flow's reported path disagrees with where its bytes were sent; nil when it agrees.
    private func pathProblem(of flow: ProxiedFlow, to peer: String) -> String? {
        let via = flow.via.flatMap(HostPort.init)?.host
        let throughRelay = via.map(relayAddresses.contains) ?? false
        switch flow.path {
        case .relayed:
            return throughRelay ? nil : "sent to \(via ?? "an unknown address"), no relay's"
        case .direct, .holePunched:
            if throughRelay { return "sent to the relay at \(via ?? "?")" }
            if let via, faces[peer]?.contains(via) == true { return nil }
            return "sent to \(via ?? "an unknown address"), not an address of \(peer) (\((faces[peer] ?? []).sorted().joined(separator: ", ")))"
        case .local:
            return "carried through the tunnel to \(peer)"
        }
    }

    /// The DNS server of the agent on `node` sent `response` (at `time`).
    public func dnsAnswered(_ response: DNSMessage, on node: String, at time: UInt64) {
        guard let question = response.questions.first, question.type == .a else { return }
        let labels = question.name.description.lowercased().split(separator: ".").map(String.init)
        guard labels.count == 3 + clusterDomain.count, labels[2] == "svc", Array(labels[3...]) == clusterDomain else { return }
        let service = "\(labels[1])/\(labels[0])"
        let held = history.nameAddresses(of: service, on: node, from: time, to: time)
        let answered = response.answers.compactMap { record -> String? in
            if case .a(let address) = record.data { return address.description }
            return nil
        }
        dnsAnswersChecked += 1
        let name = question.name.description
        if response.header.responseCode == .nameError, held.heldThroughout {
            violate(.dnsAnswers, at: time, "\(node)'s agent answered \(name) with NXDOMAIN while its table held \(service)")
        } else if let stray = answered.first(where: { !held.addresses.contains($0) }) {
            violate(
                .dnsAnswers, at: time,
                "\(node)'s agent answered \(name) with \(stray), "
                    + (held.everHeld ? "not what its table gave the name then (\(held.addresses.sorted().joined(separator: ", ")))"
                        : "a service its table did not hold then"))
        }
    }

    /// Per node, its address and the WAN addresses of the routers above its network.
    private static func faces(of topology: TopologySpec, addresses: (String) -> String?) -> [String: Set<String>] {
        let networks = Dictionary(topology.networks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let routers = Dictionary(topology.routers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var faces: [String: Set<String>] = [:]
        for node in topology.nodes {
            var seen: Set<String> = addresses(node.name).map { [$0] } ?? []
            var network = networks[node.network]
            // A tree: at most one router per network on the way up; the count guards a bad file.
            for _ in 0..<topology.routers.count {
                guard let name = network?.router, let router = routers[name] else { break }
                if let address = addresses(name) { seen.insert(address) }
                network = networks[router.upstream]
            }
            faces[node.name] = seen
        }
        return faces
    }

    // MARK: Checks

    private func judgeAnswer(_ outcome: RequestOutcome, of client: WorkloadSpec) {
        guard outcome.succeeded, let backend = outcome.backend, let answeredBy = backendAddresses[backend],
            case .client(let spec) = client.kind
        else { return }
        let start = testbed.runTime(of: outcome.startedAt)
        let end = testbed.runTime(of: outcome.startedAt + outcome.latency)
        // A client sends its requests to its targets in turn; the answer is for one of them.
        let services = spec.targets.compactMap { HostPort($0).flatMap { history.service(forTargetHost: $0.host, on: client.node) } }
        guard !services.isEmpty else { return }
        answersChecked += 1
        let allowed = services.reduce(into: Set<String>()) { $0.formUnion(history.backends(of: $1, on: client.node, from: start, to: end)) }
        if !allowed.contains(answeredBy) {
            violate(
                .safety, at: end,
                "\(client.name)'s request started at \(Nanoseconds.format(start)) was answered by \(backend) (\(answeredBy)), "
                    + "not a backend \(client.node)'s agent held for \(services.joined(separator: " or ")) then "
                    + "(held: \(allowed.isEmpty ? "none" : allowed.sorted().joined(separator: ", ")))")
        }
    }

    private func checkTables(at time: UInt64) {
        tableChecks += 1
        for node in scenario.mesh?.agents ?? [] where testbed.isAgentRunning(on: node) {
            let (matches, detail) = testbed.tableMatchesSource(on: node)
            if matches {
                mismatchSince[node] = nil
            } else if let since = mismatchSince[node] {
                if time - since.at >= Self.tableGrace {
                    violate(.liveness, at: since.at, "the agent on \(node) differed from its source from \(Nanoseconds.format(since.at)) for \(Nanoseconds.format(time - since.at)) after the chaos settled: \(since.detail)")
                }
            } else {
                mismatchSince[node] = (time, detail)
            }
        }
    }

    private func countSockets(at time: UInt64) {
        for node in scenario.mesh?.agents ?? [] {
            guard let count = testbed.openSockets(on: node) else { continue }
            peakSockets[node] = max(peakSockets[node] ?? 0, count)
            if count > Self.maximumSocketsPerNode {
                violate(.boundedSockets, at: time, "\(node) held \(count) sockets, more than \(Self.maximumSocketsPerNode)")
            }
        }
    }

    private func violate(_ invariant: Invariant, at time: UInt64, _ detail: String) {
        if let earlier = violations[invariant], earlier.at <= time { return }
        violations[invariant] = (time, detail)
    }

    // MARK: Verdicts

    /// Each invariant's verdict at the end of the run; invariants the testbed could not feed,
    /// or that do not apply to the run, are left out.
    public func verdicts() -> [InvariantVerdict] {
        var verdicts: [InvariantVerdict] = []
        func verdict(_ invariant: Invariant, held: String) {
            guard fed.contains(invariant) else { return }
            let violation = violations[invariant]
            verdicts.append(InvariantVerdict(name: invariant.rawValue, violatedAt: violation?.at, detail: violation?.detail ?? held))
        }
        guard scenario.mesh != nil else { return [] }
        verdict(.agentsAlive, held: "\(agentStarts) agent start(s), none failed")
        verdict(.safety, held: "\(answersChecked) answer(s) through services, each from a backend the client's agent held; "
            + "\(flowsChecked) flow(s), each to a backend its agent held")
        if !markers.isEmpty {
            verdict(.noPlaintext, held: "\(forwardedPayloads) forwarded payload(s), none with a request to a service in plaintext")
        }
        let peaks = peakSockets.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(3).map { "\($0.key) \($0.value)" }
        verdict(.boundedSockets, held: "at most \(peaks.joined(separator: ", ")) sockets at once (bound \(Self.maximumSocketsPerNode))")
        verdict(.dnsAnswers, held: "\(dnsAnswersChecked) answer(s) for service names, each what the agent's table said then")
        verdict(.observedPath, held: "\(tunnelledFlowsChecked) tunnelled flow(s), each sent where its reported path goes")
        if let settled = scenario.settlesAt {
            checkClientsAnswered(since: settled)
            verdict(.liveness, held: "from \(Nanoseconds.format(settled)) on, \(tableChecks) table check(s) matched the source and every client got answers")
        }
        return verdicts
    }

    /// Liveness of flows: a client that kept sending after the settle point got some answer
    /// (unless the file expects it to fail: a flow the topology does not allow).
    private func checkClientsAnswered(since settled: UInt64) {
        let expectedToFail = Set(scenario.expectations.compactMap { expectation -> String? in
            if case .maxSuccessRatio = expectation.kind { return expectation.subject }
            return nil
        })
        let start = testbed.deadline(at: settled)
        for workload in scenario.workloads where !expectedToFail.contains(workload.name) {
            guard case .client = workload.kind, let log = logs[workload.name]?.since(start), log.attempted > 0, log.succeeded == 0 else { continue }
            violate(.liveness, at: settled, "\(workload.name) sent \(log.attempted) request(s) after the chaos settled and none was answered (\(log.failureReasons.first?.reason ?? "no reason"))")
        }
    }

    private static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, haystack.count >= needle.count else { return false }
        var index = 0
        while index <= haystack.count - needle.count {
            if haystack[index] == first && needle.indices.allSatisfy({ haystack[index + $0] == needle[$0] }) { return true }
            index += 1
        }
        return false
    }
}
