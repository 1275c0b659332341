import Mesh
import NetworkTopology

/// The Kubernetes objects of a scenario run as they stand now, changes applied, and the test
/// API server that serves them when the scenario has one: what both testbeds hand their agents
/// (through the server, or as manifest files) and judge their tables against.
public final class ClusterObjects {
    /// The objects as they stand now.
    public private(set) var manifests: [KubernetesManifest]
    public let apiServer: KubernetesTestAPIServer?
    /// The nodes running an agent, for the Node objects the kubelet would register.
    private let agentNodes: [AgentNode]

    /// What a node's Node object says of it: its address and its pod network.
    public struct AgentNode: Sendable {
        public var name: String
        public var address: IPv4Address
        public var podNetwork: IPv4Prefix?

        public init(name: String, address: IPv4Address, podNetwork: IPv4Prefix? = nil) {
            self.name = name
            self.address = address
            self.podNetwork = podNetwork
        }
    }

    /// Registers every object with `apiServer`, when there is one, and a Node object for each
    /// agent node that has none (as the kubelet does; the agents publish their keys on it).
    /// Throws `TopologyError` for an object the server cannot serve, or a change that applies one.
    public init(
        manifests: [KubernetesManifest], changes: [ObjectChangeSpec], agentNodes: [AgentNode],
        apiServer: KubernetesTestAPIServer?
    ) throws {
        self.manifests = manifests
        self.apiServer = apiServer
        self.agentNodes = agentNodes
        guard let apiServer else { return }
        for manifest in manifests { try Self.write(manifest, to: apiServer) }
        for node in agentNodes where !manifests.contains(where: { $0.kind == "Node" && $0.name == node.name }) {
            try Self.write(Self.nodeManifest(node, key: nil), to: apiServer)
        }
        for change in changes {
            if case .apply(let manifest) = change.action { _ = try Self.resource(for: manifest.kind) }
        }
    }

    /// The objects as manifest files for agents without an API server: one file.
    public var manifestFiles: [String: String] {
        ["scenario.yaml": manifests.map(\.yaml).joined(separator: "\n---\n")]
    }

    /// Applies one change of the timeline (to the server too, when there is one).
    public func apply(_ action: ObjectChangeSpec.Action) throws {
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
    }

    /// Writes a node's tunnel key into its Node object, as the agent would publish it through
    /// an API server: for agents that read manifests, which have nothing to patch.
    public func publishKey(of node: String, key: String) {
        guard let agentNode = agentNodes.first(where: { $0.name == node }) else { return }
        // The YAML is built here from a node name, addresses and base64: it always converts.
        try! apply(.apply(Self.nodeManifest(agentNode, key: key)))
    }

    /// The node's Node object with its address (peers dial it), its pod network when it has one
    /// (`spec.podCIDR`, as the controller manager allocates it) and, when given, its tunnel key
    /// (peers accept its handshakes by it).
    static func nodeManifest(_ node: AgentNode, key: String?) -> KubernetesManifest {
        let annotations = key.map { "\n  annotations: {\(tunnelPublicKeyAnnotation): \"\($0)\"}" } ?? ""
        let spec = node.podNetwork.map { "\nspec: {podCIDR: \($0)}" } ?? ""
        let yaml = """
            apiVersion: v1
            kind: Node
            metadata:
              name: \(node.name)\(annotations)\(spec)
            status:
              addresses: [{type: InternalIP, address: \(node.address)}]
            """
        return KubernetesManifest(apiVersion: "v1", kind: "Node", name: node.name, namespace: nil, yaml: yaml)
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

    public static let servedResources: [KubernetesResource] = [
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

    /// What an agent reading this source should hold of `kinds`: "Kind namespace/name", with
    /// "@resourceVersion" when the source is the API server. Sorted.
    public func wantedTable(of kinds: [TableObjectKind]) -> [String] {
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
        return wanted.sorted()
    }

    /// The source in words: "the API server" or "the manifests".
    public var sourceName: String { apiServer == nil ? "the manifests" : "the API server" }
}
