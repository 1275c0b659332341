import Mesh
import NIOCore
import NetSim
import NetworkTopology
import Scenario

/// The mesh side of a scenario run on NetSim: the simulated API server (or the manifests handed straight
/// to each agent), an agent on every agent node (started again after each reboot, from its
/// snapshot), and the object changes on the timeline.
///
/// With an API server, each agent node's Node object is registered up front (as the kubelet
/// does) and the agents publish their tunnel keys on it themselves. With manifests there is
/// nothing to patch, so the runner writes each agent's key into the manifests for it.
final class SimMeshDeployment {
    let spec: MeshSpec
    let simulator: Simulator
    /// The objects as they stand now, changes applied, and the API server when there is one.
    let objects: ClusterObjects
    private let changes: [ObjectChangeSpec]
    var apiServer: KubernetesTestAPIServer? { objects.apiServer }
    private var agents: [String: EdgeAgent] = [:]
    /// Told of every agent start and table change, when the run checks invariants.
    weak var monitor: InvariantMonitor?
    /// Every flow each node's agents carried, in order (the agents' rings keep only the recent ones).
    private(set) var flows: [String: [ProxiedFlow]] = [:]
    private var relays: [String: RelayServer] = [:]
    /// The cluster's pre-shared key: every agent and relay of the scenario shares it.
    private let presharedKey: TunnelPresharedKey
    static let relayPort: UInt16 = 20008

    /// Throws `TopologyError` for an object the simulated API server cannot serve.
    init(spec: MeshSpec, manifests: [KubernetesManifest], changes: [ObjectChangeSpec], simulator: Simulator) throws {
        self.spec = spec
        self.simulator = simulator
        self.changes = changes
        // A non-empty constant cannot be refused.
        self.presharedKey = try! TunnelPresharedKey(secret: "edgemesh scenario cluster")
        var server: KubernetesTestAPIServer?
        if let node = spec.apiServer {
            guard let host = simulator.host(named: node) else { throw TopologyError("unknown API server node \"\(node)\"") }
            server = KubernetesTestAPIServer(host: host, configuration: .init(port: spec.apiPort))
        }
        let agentNodes = try spec.agents.map { node in
            guard let address = simulator.resolve(node) else { throw TopologyError("unknown agent node \"\(node)\"") }
            return ClusterObjects.AgentNode(
                name: node, address: address, podNetwork: simulator.topology.nodes.first { $0.name == node }?.podNetwork)
        }
        self.objects = try ClusterObjects(manifests: manifests, changes: changes, agentNodes: agentNodes, apiServer: server)
    }

    func start() throws {
        if let node = spec.apiServer, let server = apiServer {
            try simulator.onBoot(of: node) { _ in _ = server.start() }
        }
        for node in spec.relays {
            try simulator.onBoot(of: node) { [self] host in startRelay(on: host) }
        }
        for node in spec.agents {
            try simulator.onBoot(of: node) { [self] host in startAgent(on: host) }
        }
        for change in changes {
            simulator.schedule(at: change.at) { [self] in
                // Objects were checked when the run was built; a failure here is a bug.
                try! apply(change.action)
            }
        }
    }

    /// Where clients on `node` (or a pod) look names up: the agent of their node, when it runs one.
    func nameServer(forNode node: String) -> SocketAddress? {
        spec.nameServer(forHost: node, in: simulator.topology)
    }

    /// The search list of a simulated pod in the `default` namespace.
    var searchDomains: [String] {
        ["default.svc.\(spec.clusterDomain)", "svc.\(spec.clusterDomain)", spec.clusterDomain]
    }

    /// The agent running on `node` now; nil while the node is down.
    func agent(on node: String) -> EdgeAgent? {
        guard simulator.node(named: node)?.isPoweredOn == true else { return nil }
        return agents[node]
    }

    // MARK: Agents

    private func startRelay(on host: SimHost) {
        let relay = RelayServer(
            host: host,
            configuration: RelayServerConfiguration(
                listenAddress: host.address.socketAddress(port: Self.relayPort), presharedKey: presharedKey.bytes))
        relays[host.name] = relay
        relay.start().whenFailure { host.logger.error("relay failed to start: \($0)") }
    }

    private func startAgent(on host: SimHost) {
        if !spec.agentListenAddress.isLoopback {
            // What `edgemesh agent` does at start on Linux: its device, holding its listen address.
            try! simulator.addDeviceAddress(spec.agentListenAddress, device: "edgemesh0", toNode: host.name)
        }
        let relayAddresses = spec.relays.compactMap { simulator.resolve($0)?.socketAddress(port: Self.relayPort) }
        let configuration = EdgeAgent.Configuration(
            nodeName: host.name, listenAddress: spec.agentListenAddress, dnsPort: spec.dnsPort, clusterDomain: spec.clusterDomain,
            tunnel: spec.tunnel ? TunnelConfiguration(presharedKey: presharedKey) : nil,
            relays: spec.tunnel ? relayAddresses : [],
            gateway: spec.gateways.contains(host.name)
                ? IngressGateway.Configuration(listenOn: spec.gatewayListen?.filter ?? .everything) : nil,
            socks5: spec.tunnel ? spec.socks5Ports.map {
                Socks5Configuration(listenAddress: host.address.socketAddress(port: Socks5Configuration.defaultPort), allowedPorts: Set($0))
            } : nil,
            edgeCNI: spec.tunnel && spec.edgeCNI ? MeshCIDRConfiguration() : nil)
        // The domain was validated by the parser.
        let agent = try! EdgeAgent(host: host, configuration: configuration)
        agents[host.name] = agent
        agent.proxy.observeFlows { [weak self, simulator] flow in
            self?.flows[host.name, default: []].append(flow)
            self?.monitor?.flowCarried(flow, on: host.name, at: simulator.now)
        }
        if let monitor {
            agent.dnsServer.observeResponses { [simulator] bytes in
                guard let response = try? DNSMessage(decoding: bytes) else { return }
                monitor.dnsAnswered(response, on: host.name, at: simulator.now)
            }
            agent.table.subscribe { [simulator] _ in
                monitor.tableChanged(on: host.name, services: Self.endpointViews(of: agent.table), at: simulator.now)
            }
        }
        agent.start().whenComplete { [self] result in
            if case .failure(let error) = result {
                host.logger.error("agent failed to start: \(error)")
                monitor?.agentStarted(on: host.name, failure: "\(error)", at: simulator.now)
            } else {
                monitor?.agentStarted(on: host.name, failure: nil, at: simulator.now)
            }
            monitor?.tableChanged(on: host.name, services: Self.endpointViews(of: agent.table), at: simulator.now)
            if let node = spec.apiServer, let address = simulator.resolve(node) {
                let client = KubernetesAPIClient(host: host, endpoint: KubernetesAPIEndpoint(host: address.description, port: spec.apiPort))
                agent.follow(client)
            } else {
                if let identity = agent.tunnel?.identity {
                    // Nothing to patch in manifests mode: the runner writes the key the agent would have published.
                    objects.publishKey(of: host.name, key: identity.publicKeyText)
                    applyManifestsOnEveryAgent()
                }
                agent.applyManifests(objects.manifestFiles)
            }
        }
    }

    // MARK: Changes

    private func apply(_ action: ObjectChangeSpec.Action) throws {
        try objects.apply(action)
        if apiServer == nil { applyManifestsOnEveryAgent() }
    }

    private func applyManifestsOnEveryAgent() {
        for node in spec.agents {
            agent(on: node)?.applyManifests(objects.manifestFiles)
        }
    }

    // MARK: Judging

    /// The services of a table with the backends its proxy may pick, for the invariants.
    static func endpointViews(of table: ServiceTable) -> [ServiceEndpointView] {
        table.services.map { service in
            let endpoints = table.endpoints(of: service.key)
            let backends = endpoints.flatMap { endpoint in endpoint.ports.values.map { "\(endpoint.ip):\($0)" } }
            let spec = service.spec
            let nameAddresses: Set<String>? = spec.type == .externalName ? nil
                : spec.isHeadless ? Set(endpoints.map(\.ip)) : Set(spec.allocatedClusterIPs)
            return ServiceEndpointView(
                key: "\(service.key.namespace)/\(service.key.name)", clusterIP: spec.clusterIP, backends: Set(backends),
                nameAddresses: nameAddresses)
        }
    }

    /// Whether the agent on `node` holds what its source holds, with the first differences.
    func tableMatchesSource(on node: String) -> (matches: Bool, detail: String) {
        guard let agent = agent(on: node) else { return (false, "no agent runs on \(node) at the end of the run") }
        let kinds = agent.apiSource?.options.kinds ?? TableObjectKind.allCases
        var held: [String] = []
        for kind in kinds {
            for object in agent.table.objects(of: kind) {
                guard let key = object.tableKey else { continue }
                let version = apiServer == nil ? "" : "@\(object.metadata?.resourceVersion ?? "?")"
                held.append("\(kind) \(key)\(version)")
            }
        }
        return TableComparison(held: held, wanted: objects.wantedTable(of: kinds), source: objects.sourceName).verdict
    }
}
