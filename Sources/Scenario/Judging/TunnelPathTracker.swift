import Mesh
import NIOCore

/// Works out which path a client's flows took, for `path` expectations and the matrix.
///
/// Observed, not inferred: each successful request is matched with the flow the client node's
/// agent carried it on (`ScenarioTestbed.proxiedFlows`: same client port, opened while the
/// request was open), and that flow's path is the path of the tunnel connection its bytes
/// went over (`local` for a backend on the client's own node). This holds for every protocol,
/// whether or not the backend names itself. A request no agent carried (a client reaching a
/// node's address, not a service) went straight there: local on its own node, else direct.
public final class TunnelPathTracker {
    private let scenario: Scenario
    private let testbed: any ScenarioTestbed
    /// Per client, each successful request: when it started and ended, and its local port.
    private var answered: [String: [(startedAt: NIODeadline, endedAt: NIODeadline, clientPort: UInt16?)]] = [:]

    public init(scenario: Scenario, testbed: any ScenarioTestbed) {
        self.scenario = scenario
        self.testbed = testbed
    }

    /// Notes each successful request of `client`, to be matched with its flow when judged
    /// (a lab fetches the agents' flows only now and then).
    func observe(_ client: WorkloadSpec, log: RequestLog) {
        guard scenario.mesh != nil else { return }
        log.onRecord { [weak self] outcome in
            guard let self, outcome.succeeded else { return }
            self.answered[client.name, default: []].append(
                (outcome.startedAt, outcome.startedAt + outcome.latency, outcome.clientPort))
        }
    }

    /// The path `workloadName`'s flows took (those started at or after `start`, when given),
    /// with how the requests were spread over paths.
    public func path(of workloadName: String, since start: NIODeadline? = nil) -> (path: ExpectationSpec.Path?, detail: String) {
        guard let workload = scenario.workloads.first(where: { $0.name == workloadName }) else { return (nil, "") }
        switch workload.kind {
        case .punchPeer:
            return (.holePunched, "")
        case .client(let spec):
            let requests = (answered[workloadName] ?? []).filter { request in start.map { request.startedAt >= $0 } ?? true }
            let flows = FlowsByClientPort(testbed.proxiedFlows(on: workload.node))
            var counts: [String: Int] = [:]
            var unmatched = 0
            for request in requests {
                if let flow = flows.flow(from: request.clientPort, openedWithin: request.startedAt...request.endedAt) {
                    counts[flow.path.rawValue, default: 0] += 1
                } else {
                    unmatched += 1
                }
            }
            if let most = counts.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }) {
                let total = counts.values.reduce(0, +)
                let breakdown = counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                let missing = unmatched == 0 ? "" : "; \(unmatched) with no flow reported"
                return (ExpectationSpec.Path(rawValue: most.key), " (\(most.value) of \(total) requests; \(breakdown)\(missing))")
            }
            // No agent carried any of them: they went to a node's address as they were.
            let own = testbed.address(of: workload.node)
            let local = spec.targets.allSatisfy { HostPort($0).flatMap { testbed.address(of: $0.host) } == own }
            return (local ? .local : .direct, requests.isEmpty ? "" : " (no agent carried its requests)")
        default:
            return (nil, "")
        }
    }
}

/// A node's flows indexed by client port, for matching requests with them.
struct FlowsByClientPort {
    private var byPort: [UInt16: [ProxiedFlow]] = [:]

    init(_ flows: [ProxiedFlow]) {
        for flow in flows {
            guard let port = flow.client.flatMap(HostPort.init).map(\.port) else { continue }
            byPort[port, default: []].append(flow)
        }
    }

    /// The last flow from `port` opened while the request was open (a port is reused over a run).
    func flow(from port: UInt16?, openedWithin window: ClosedRange<NIODeadline>) -> ProxiedFlow? {
        guard let port else { return nil }
        let from = Double(window.lowerBound.uptimeNanoseconds) / 1e9
        let to = Double(window.upperBound.uptimeNanoseconds) / 1e9
        // A millisecond either way: the times went through a Double of seconds since the host booted.
        return byPort[port]?.last { $0.openedAt >= from - 0.001 && $0.openedAt <= to + 0.001 }
    }
}
