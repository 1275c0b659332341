import Foundation
import Mesh
import NIOCore
import NetworkTopology
import Scenario

/// The mesh side of a lab run: the real `edgemesh agent` and `edgemesh relay` processes in their
/// nodes' namespaces, and the test API server (in-process, on its node's lab host) or a
/// manifest directory they all watch. The same objects as the simulator's (`ClusterObjects`).
///
/// The runner learns what each agent holds from its status endpoint (`GET /status`, what
/// `edgemesh status` reads), polled on the run's loop: the tunnel paths the judge asks about,
/// the tunnel keys it writes into the manifests when there is no API server to publish them
/// on, and the table counts it compares with the source at the end.
final class LabMeshDeployment {
    let spec: MeshSpec
    let objects: ClusterObjects
    private let changes: [ObjectChangeSpec]
    private let topology: TopologySpec
    private let network: LabNetwork
    private let hosts: [String: LabHost]
    private let executable: String
    private let directory: String
    /// The mesh processes by name (`agent-<node>`, `relay-<node>`).
    private var processes: [String: LabProcess] = [:]
    /// The last status each agent answered with.
    private(set) var statuses: [String: AgentStatus] = [:]
    /// Each agent's table as its `/table` listed it at the end of the run.
    private var tables: [String: ManifestSet] = [:]
    private var publishedKeys: Set<String> = []
    private var polling: RepeatedTask?
    private var polls = 0
    /// Per node, the flows its agents reported, by id and opening time.
    private var flows: [String: [String: ProxiedFlow]] = [:]
    static let relayPort: UInt16 = 20008
    static let statusPort: UInt16 = 10551

    /// - Parameters:
    ///   - topology: the topology with every address assigned.
    ///   - executable: the `edgemesh` binary the agents and relays run.
    ///   - directory: the run's directory (state, manifests, key, logs).
    init(
        spec: MeshSpec, manifests: [KubernetesManifest], changes: [ObjectChangeSpec], topology: TopologySpec,
        network: LabNetwork, hosts: [String: LabHost], executable: String, directory: String
    ) throws {
        self.spec = spec
        self.changes = changes
        self.topology = topology
        self.network = network
        self.hosts = hosts
        self.executable = executable
        self.directory = directory
        var server: KubernetesTestAPIServer?
        if let node = spec.apiServer {
            guard let host = hosts[node] else { throw LabError("the API server's node \(node) is not part of this run") }
            server = KubernetesTestAPIServer(host: host, configuration: .init(port: spec.apiPort))
        }
        let agentNodes = try spec.agents.filter { hosts[$0] != nil }.map { node in
            guard let spec = topology.nodes.first(where: { $0.name == node }), let address = spec.address else {
                throw LabError("unknown agent node \(node)")
            }
            return ClusterObjects.AgentNode(name: node, address: address, podNetwork: spec.podNetwork)
        }
        objects = try ClusterObjects(manifests: manifests, changes: changes, agentNodes: agentNodes, apiServer: server)
    }

    /// Agent nodes that are part of the run.
    var agentNodes: [String] { spec.agents.filter { hosts[$0] != nil } }

    /// Starts the API server, the relays and the agents; schedules the object changes with
    /// `schedule` and polls the agents' status four times a second on `loop` (a request that
    /// succeeds through a tunnel the last status did not show yet counts as path "none").
    /// Throws when a process cannot be started.
    func start(on loop: EventLoop, schedule: (UInt64, @escaping () -> Void) -> Void) throws {
        let files = FileManager.default
        var secret = [UInt8](repeating: 0, count: 32)
        for index in secret.indices { secret[index] = UInt8.random(in: 0...255) }
        try Data(Data(secret).base64EncodedString().utf8).write(to: URL(fileURLWithPath: pskPath))
        // No upstream resolver: names outside the cluster are not the lab's business, as in the simulator.
        try Data().write(to: URL(fileURLWithPath: "\(directory)/resolv.conf"))
        if let server = objects.apiServer {
            try server.start().wait()
        } else {
            try files.createDirectory(atPath: manifestDirectory, withIntermediateDirectories: true)
            try writeManifests()
        }
        for relay in spec.relays {
            try startRelay(on: relay)
        }
        for node in agentNodes {
            // Redirected cluster IPs are answered on loopback; a node without a default route
            // (on the internet) needs a route for them, or connect() fails before interception.
            if let namespace = network.namespace(of: node) {
                try LabShell.run(["ip", "route", "add", "10.96.0.0/12", "dev", "lo", "src", "127.0.0.1"], in: namespace)
            }
            try startAgent(on: node)
        }
        for change in changes {
            schedule(change.at) { [self] in
                // Objects were checked when the run was built; a failure here is a bug.
                try! objects.apply(change.action)
                if objects.apiServer == nil { try? writeManifests() }
            }
        }
        polling = loop.scheduleRepeatedTask(initialDelay: .milliseconds(200), delay: .milliseconds(250)) { [self] _ in pollStatuses() }
    }

    private var pskPath: String { "\(directory)/psk" }

    private func startRelay(on relay: String) throws {
        guard let namespace = network.namespace(of: relay), let address = address(of: relay) else { return }
        processes["relay-\(relay)"] = try LabProcess(
            name: "relay-\(relay)", namespace: namespace, executable: executable,
            arguments: ["relay", "--listen", "\(address):\(Self.relayPort)", "--psk-file", pskPath, "--name", relay],
            logDirectory: directory)
    }

    private func startAgent(on node: String) throws {
        guard let namespace = network.namespace(of: node) else { return }
        var arguments = [
            "agent", "--node-name", node, "--state-dir", "\(directory)/state/\(node)",
            // Loopback, or with the edge CNI the link-local address on the agent's own device (it makes it), as in production.
            "--listen-ip", spec.agentListenAddress.description,
            "--dns-port", "\(spec.dnsPort)", "--cluster-domain", spec.clusterDomain, "--resolv-conf", "\(directory)/resolv.conf",
            "--status-address", "127.0.0.1:\(Self.statusPort)",
        ]
        if let server = spec.apiServer, let address = address(of: server) {
            arguments += ["--master", "http://\(address):\(spec.apiPort)"]
        } else {
            arguments += ["--manifests", manifestDirectory]
        }
        if spec.tunnel {
            arguments += ["--psk-file", pskPath]
            for relay in spec.relays where network.namespace(of: relay) != nil {
                if let address = address(of: relay) { arguments += ["--relay", "\(address):\(Self.relayPort)"] }
            }
        }
        if spec.gateways.contains(node) {
            arguments.append("--gateway")
            if let listen = spec.gatewayListen {
                arguments += ["--gateway-nic", listen.nic, "--gateway-include-ip", listen.includeIP, "--gateway-exclude-ip", listen.excludeIP]
            }
        }
        if let ports = spec.socks5Ports, spec.tunnel, let address = address(of: node) {
            // On the node's own address, so an operator on another node reaches it.
            arguments += ["--socks5", "--socks5-address", address.description] + ports.flatMap { ["--socks5-allowed-port", String($0)] }
        }
        if spec.tunnel && spec.edgeCNI {
            arguments.append("--edge-cni")
        }
        processes["agent-\(node)"] = try LabProcess(name: "agent-\(node)", namespace: namespace, executable: executable, arguments: arguments, logDirectory: directory)
    }

    /// Whether `node` runs an agent or a relay of the run.
    func runsProcess(on node: String) -> Bool { agentNodes.contains(node) || spec.relays.contains(node) }

    /// A power cut as the mesh sees it: the node's agent and relay are killed (SIGKILL); the
    /// agent's state directory stays for `boot`.
    func crash(_ node: String) {
        processes["agent-\(node)"]?.kill()
        processes["relay-\(node)"]?.kill()
        statuses[node] = nil
    }

    /// Starts the node's agent or relay again, with the state it kept.
    func boot(_ node: String) throws {
        if spec.relays.contains(node) { try startRelay(on: node) }
        if agentNodes.contains(node) { try startAgent(on: node) }
    }

    /// Stops every process: SIGTERM, then SIGKILL for what is still there after two seconds.
    func stop() {
        polling?.cancel()
        for process in processes.values { process.terminate() }
        let deadline = Date().addingTimeInterval(2)
        for process in processes.values {
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { process.kill() }
        }
        objects.apiServer?.stop()
    }

    private func address(of name: String) -> IPv4Address? {
        topology.nodes.first { $0.name == name }?.address
    }

    private var manifestDirectory: String { "\(directory)/manifests" }

    /// Replaces the manifest files whole (written aside and renamed), so that an agent never
    /// reads half a file.
    private func writeManifests() throws {
        for (name, contents) in objects.manifestFiles {
            let path = "\(manifestDirectory)/\(name)"
            try Data(contents.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        }
    }

    // MARK: Status

    private func pollStatuses() {
        polls += 1
        // A ring of 256 flows outlasts a second of any scenario's clients.
        if polls % 4 == 0 { _ = fetchFlows() }
        for node in agentNodes {
            fetch("/status", fromAgentOn: node, timeout: .seconds(2))?.whenSuccess { [self] body in
                guard let status = try? JSONDecoder().decode(AgentStatus.self, from: Data(body.utf8)) else { return }
                statuses[node] = status
                publishKeyIfNeeded(of: node, status: status)
            }
        }
    }

    /// One page of the local endpoint of the agent on `node`, asked from inside its namespace;
    /// nil when the node is not part of the run.
    private func fetch(_ path: String, fromAgentOn node: String, timeout: TimeAmount) -> EventLoopFuture<String>? {
        guard let host = hosts[node] else { return nil }
        let endpoint = IPv4Address.loopback.socketAddress(port: Self.statusPort)
        return host.connectStream(StreamConnectOptions(remote: endpoint, connectTimeout: .seconds(1))) { _ in
            host.eventLoop.makeSucceededVoidFuture()
        }.flatMap { channel in
            AgentStatusClient.fetchPage(path, over: channel, authority: "127.0.0.1:\(Self.statusPort)", timeout: timeout)
        }
    }

    /// Without an API server nothing publishes an agent's key: the runner writes it into the
    /// manifests once the agent has one, as the simulator does.
    private func publishKeyIfNeeded(of node: String, status: AgentStatus) {
        guard objects.apiServer == nil, !publishedKeys.contains(node), let key = status.tunnel?.publicKey else { return }
        publishedKeys.insert(node)
        objects.publishKey(of: node, key: key)
        try? writeManifests()
    }

    /// Where clients on `node` send DNS queries: its agent, when it runs one.
    func nameServer(forNode node: String) -> SocketAddress? {
        spec.nameServer(forHost: node, in: topology)
    }

    var searchDomains: [String] {
        ["default.svc.\(spec.clusterDomain)", "svc.\(spec.clusterDomain)", spec.clusterDomain]
    }

    /// The path the agent on `node` reported to `peer` in its last status.
    func tunnelPath(from node: String, to peer: String) -> String? {
        guard spec.tunnel, let status = statuses[node], let tunnel = status.tunnel else { return nil }
        return tunnel.peers.first { $0.node == peer }?.path ?? "none"
    }

    /// Every flow the agents on `node` reported (`GET /flows`), oldest first.
    func proxiedFlows(on node: String) -> [ProxiedFlow] {
        (flows[node] ?? [:]).values.sorted { ($0.openedAt, $0.id) < ($1.openedAt, $1.id) }
    }

    /// Fetches every agent's recent flows and keeps the ones not seen yet; completes when all
    /// have answered or failed.
    func fetchFlows() -> [EventLoopFuture<Void>] {
        agentNodes.compactMap { node in
            fetch("/flows", fromAgentOn: node, timeout: .seconds(2))?.map { [self] body in
                guard let page = try? JSONDecoder().decode(ProxiedFlowPage.self, from: Data(body.utf8)) else { return }
                // A restarted agent counts from 1 again: its flows differ by when they opened.
                for flow in page.flows { flows[node, default: [:]]["\(flow.id)@\(flow.openedAt)"] = flow }
            }.recover { _ in }
        }
    }

    /// Fetches every agent's table (`GET /table`) for `tableMatchesSource`, and their last
    /// flows; completes when all have answered or failed.
    func fetchTables(on loop: EventLoop) -> EventLoopFuture<Void> {
        let fetches = fetchFlows() + agentNodes.compactMap { node in
            fetch("/table", fromAgentOn: node, timeout: .seconds(5))?.map { [self] body in
                tables[node] = ManifestSet(files: ["table.json": body])
            }.recover { _ in }
        }
        return EventLoopFuture.andAllComplete(fetches, on: loop)
    }

    /// Whether the agent on `node` holds what its source holds, object for object (and version
    /// for version with an API server), as its `/table` lists it; Secrets, which the listing
    /// never shows, are left out of both sides.
    func tableMatchesSource(on node: String) -> (matches: Bool, detail: String) {
        guard let table = tables[node] else { return (false, "the agent on \(node) did not list its table") }
        let followed = statuses[node].map { status in
            status.sources.compactMap { source in ClusterObjects.servedResources.first { $0.plural == source.resource }?.kind }
        } ?? []
        let kinds = TableObjectKind.allCases.filter { $0 != .secret && (followed.isEmpty || followed.contains($0.rawValue)) }
        var held: [String] = []
        for kind in kinds {
            for object in table.objects[kind] ?? [] {
                guard let key = object.tableKey else { continue }
                let version = objects.apiServer == nil ? "" : "@\(object.metadata?.resourceVersion ?? "?")"
                held.append("\(kind) \(key)\(version)")
            }
        }
        return TableComparison(held: held, wanted: objects.wantedTable(of: kinds), source: objects.sourceName).verdict
    }
}
