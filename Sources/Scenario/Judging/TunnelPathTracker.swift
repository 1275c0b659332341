import Mesh
import NIOCore

/// Works out which path a client's flows took, for `path` expectations and the matrix.
///
/// Through the mesh tunnel, a flow's path is the one the client node's agent held to the
/// answering pod's node when most of its requests succeeded (noted as each one does); a punch
/// peer that succeeded is hole-punched; otherwise it follows from the topology: local when the
/// client reaches its own node, else direct.
public final class TunnelPathTracker {
    private let scenario: Scenario
    private let testbed: any ScenarioTestbed
    /// Per client, the tunnel path of each successful request, with when it started.
    private var observed: [String: [(startedAt: NIODeadline, path: String)]] = [:]
    /// The node each HTTP server pod runs on, by pod name (the first one of a name wins).
    private let serverNodes: [String: String]

    public init(scenario: Scenario, testbed: any ScenarioTestbed) {
        self.scenario = scenario
        self.testbed = testbed
        self.serverNodes = Dictionary(
            scenario.workloads.compactMap { workload -> (String, String)? in
                if case .httpServer(_, let podName, _) = workload.kind { return (podName, workload.node) }
                return nil
            }, uniquingKeysWith: { first, _ in first })
    }

    /// Notes, for each successful request of `client` on an agent node, the tunnel path to the
    /// node of the pod that answered (local when it is the client's own node).
    func observe(_ client: WorkloadSpec, log: RequestLog) {
        guard scenario.mesh != nil else { return }
        log.onRecord { [weak self] outcome in
            guard let self, outcome.succeeded, let backend = outcome.backend, let server = self.serverNodes[backend],
                let held = self.testbed.tunnelPath(from: client.node, to: server)
            else { return }
            let path = server == client.node ? PeerPathKind.local.rawValue : held
            self.observed[client.name, default: []].append((outcome.startedAt, path))
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
            let counts = Dictionary(
                (observed[workloadName] ?? []).filter { observation in start.map { observation.startedAt >= $0 } ?? true }.map { ($0.path, 1) }, uniquingKeysWith: +)
            if let most = counts.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }) {
                let total = counts.values.reduce(0, +)
                let breakdown = counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                return (ExpectationSpec.Path(rawValue: most.key), " (\(most.value) of \(total) requests; \(breakdown))")
            }
            let own = testbed.address(of: workload.node)
            let local = spec.targets.allSatisfy { HostPort($0).flatMap { testbed.address(of: $0.host) } == own }
            return (local ? .local : .direct, "")
        default:
            return (nil, "")
        }
    }
}
