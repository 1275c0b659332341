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
    /// The objects as they stand now, changes applied.
    private(set) var manifests: [KubernetesManifest]
    private let changes: [ObjectChangeSpec]
    private(set) var apiServer: KubernetesTestAPIServer?
    private var agents: [String: EdgeAgent] = [:]
    private var relays: [String: RelayServer] = [:]
    /// The cluster's pre-shared key: every agent and relay of the scenario shares it.
    private let presharedKey: TunnelPresharedKey
    static let relayPort: UInt16 = 20008

    /// Throws `TopologyError` for an object the simulated API server cannot serve.
    init(spec: MeshSpec, manifests: [KubernetesManifest], changes: [ObjectChangeSpec], simulator: Simulator) throws {
        self.spec = spec
        self.simulator = simulator
        self.manifests = manifests
        self.changes = changes
        // A non-empty constant cannot be refused.
        self.presharedKey = try! TunnelPresharedKey(secret: "edgemesh scenario cluster")
        if let node = spec.apiServer {
            guard let host = simulator.host(named: node) else { throw TopologyError("unknown API server node \"\(node)\"") }
            let server = KubernetesTestAPIServer(host: host, configuration: .init(port: spec.apiPort))
            for manifest in manifests { try Self.write(manifest, to: server) }
            for node in spec.agents where !manifests.contains(where: { $0.kind == "Node" && $0.name == node }) {
                guard let address = simulator.resolve(node) else { throw TopologyError("unknown agent node \"\(node)\"") }
                try Self.write(Self.nodeManifest(node, address: address, key: nil), to: server)
            }
            apiServer = server
        }
        for change in changes {
            if case .apply(let manifest) = change.action, apiServer != nil { _ = try Self.resource(for: manifest.kind) }
        }
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

    /// Where clients on `node` look names up: its agent, when it runs one.
    func nameServer(forNode node: String) -> SocketAddress? {
        spec.agents.contains(node) ? IPv4Address.loopback.socketAddress(port: spec.dnsPort) : nil
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
        let relayAddresses = spec.relays.compactMap { simulator.resolve($0)?.socketAddress(port: Self.relayPort) }
        let configuration = EdgeAgent.Configuration(
            nodeName: host.name, listenAddress: .loopback, dnsPort: spec.dnsPort, clusterDomain: spec.clusterDomain,
            tunnel: spec.tunnel ? TunnelConfiguration(presharedKey: presharedKey) : nil,
            relays: spec.tunnel ? relayAddresses : [],
            gateway: spec.gateways.contains(host.name) ? IngressGateway.Configuration() : nil)
        // The domain was validated by the parser.
        let agent = try! EdgeAgent(host: host, configuration: configuration)
        agents[host.name] = agent
        agent.start().whenComplete { [self] result in
            if case .failure(let error) = result { host.logger.error("agent failed to start: \(error)") }
            if let node = spec.apiServer, let address = simulator.resolve(node) {
                let client = KubernetesAPIClient(host: host, endpoint: KubernetesAPIEndpoint(host: address.description, port: spec.apiPort))
                agent.follow(client)
            } else {
                if let identity = agent.tunnel?.identity {
                    // Nothing to patch in manifests mode: the runner writes the key the agent would have published.
                    // The YAML is built here from a node name, an address and base64: it always converts.
                    try! apply(.apply(Self.nodeManifest(host.name, address: host.address, key: identity.publicKeyText)))
                }
                agent.applyManifests(manifestFiles)
            }
        }
    }

    private var manifestFiles: [String: String] {
        ["scenario.yaml": manifests.map(\.yaml).joined(separator: "\n---\n")]
    }

    /// The node's Node object with its address (peers dial it) and, when given, its tunnel key
    /// (peers accept its handshakes by it).
    private static func nodeManifest(_ node: String, address: IPv4Address, key: String?) -> KubernetesManifest {
        let annotations = key.map { "\n  annotations: {\(tunnelPublicKeyAnnotation): \"\($0)\"}" } ?? ""
        let yaml = """
            apiVersion: v1
            kind: Node
            metadata:
              name: \(node)\(annotations)
            status:
              addresses: [{type: InternalIP, address: \(address)}]
            """
        return KubernetesManifest(apiVersion: "v1", kind: "Node", name: node, namespace: nil, yaml: yaml)
    }

    // MARK: Changes

    private func apply(_ action: ObjectChangeSpec.Action) throws {
        switch action {
        case .apply(let manifest):
            let existing = manifests.firstIndex { Self.sameObject($0, kind: manifest.kind, namespace: manifest.namespace, name: manifest.name) }
            if let existing { manifests[existing] = manifest } else { manifests.append(manifest) }
            if let apiServer { try Self.write(manifest, to: apiServer) }
        case .delete(let kind, let namespace, let name):
            manifests.removeAll { Self.sameObject($0, kind: kind, namespace: namespace, name: name) }
            if let apiServer {
                _ = try? apiServer.delete(try Self.resource(for: kind), namespace: namespace, name: name)
            }
        }
        guard apiServer == nil else { return }
        for node in spec.agents {
            agent(on: node)?.applyManifests(manifestFiles)
        }
    }

    private static func sameObject(_ manifest: KubernetesManifest, kind: String, namespace: String?, name: String) -> Bool {
        manifest.kind == kind && manifest.name == name && (manifest.namespace ?? "default") == (namespace ?? "default")
    }

    /// Creates or updates the object on the server.
    private static func write(_ manifest: KubernetesManifest, to server: KubernetesTestAPIServer) throws {
        let resource = try resource(for: manifest.kind)
        let json: [UInt8]
        do {
            json = try ManifestJSON.encode(yaml: manifest.yaml)
        } catch {
            throw TopologyError("\(manifest.kind) \(manifest.name): \(error)")
        }
        do {
            try server.create(resource, json: json)
        } catch .alreadyExists {
            try server.update(resource, json: json)
        }
    }

    static let servedResources: [KubernetesResource] = [
        .services, .endpoints, .endpointSlices, .pods, .nodes, .secrets, .destinationRules, .virtualServices, .gateways,
    ]

    static func resource(for kind: String) throws -> KubernetesResource {
        guard let resource = servedResources.first(where: { $0.kind == kind }) else {
            throw TopologyError(
                "the simulated API server does not serve kind \(kind) (served: \(servedResources.map(\.kind).joined(separator: ", ")))")
        }
        return resource
    }

    // MARK: Judging

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
        var wanted: [String] = []
        if let apiServer {
            for kind in kinds {
                guard let resource = try? Self.resource(for: kind.rawValue) else { continue }
                for object in apiServer.objects(of: resource) {
                    wanted.append("\(kind) \(object.key)@\(object.resourceVersion)")
                }
            }
        } else {
            for manifest in manifests where kinds.contains(where: { $0.rawValue == manifest.kind }) {
                let namespace = manifest.kind == "Node" ? "" : manifest.namespace ?? "default"
                wanted.append("\(manifest.kind) \(ObjectKey(namespace: namespace, name: manifest.name))")
            }
        }
        held.sort()
        wanted.sort()
        let source = apiServer == nil ? "the manifests" : "the API server"
        guard held != wanted else { return (true, "table holds the \(wanted.count) objects of \(source)") }
        let missing = wanted.filter { !held.contains($0) }
        let extra = held.filter { !wanted.contains($0) }
        func list(_ items: [String]) -> String { items.prefix(3).joined(separator: ", ") + (items.count > 3 ? ", …" : "") }
        return (
            false,
            "table differs from \(source): \(missing.count) missing or stale (\(list(missing))), \(extra.count) extra (\(list(extra)))"
        )
    }
}
