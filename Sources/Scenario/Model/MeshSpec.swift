import Mesh
import NIOCore
import NetworkTopology

/// Where the mesh runs in a scenario: which nodes run an agent and where their objects come from.
public struct MeshSpec: Hashable, Sendable {
    /// Nodes that run an `edgemesh` agent (DNS, the service table, the snapshot).
    public var agents: [String]
    /// The node serving the scenario's objects as a Kubernetes API (list-watch), as the cloud's
    /// API server does; nil hands every agent the manifests directly, as `--manifests` does.
    public var apiServer: String?
    public var apiPort: UInt16
    public var clusterDomain: String
    public var dnsPort: UInt16
    /// Whether agents carry cross-node traffic through the tunnel (else they dial backends'
    /// addresses, which works only where those are reachable).
    public var tunnel: Bool
    /// Nodes running a relay (`edgemesh relay`): every agent keeps a reservation on each.
    public var relays: [String]
    /// Agent nodes that are also the ingress gateway (`edgemesh agent --gateway`, EdgeMesh's
    /// default gateway labels).
    public var gateways: [String] = []
    /// Which of a gateway node's addresses its ports are opened on (`gatewayListen: {nic,
    /// includeIP, excludeIP}`, EdgeMesh's keys); every address when nil.
    public var gatewayListen: GatewayListenSpec?
    /// With the tunnel: every agent serves the SOCKS5 node proxy on its node's address, port
    /// 10800, to these node ports (`socks5: {allowedPorts: [22]}`); nil for none.
    public var socks5Ports: [UInt16]?
    /// With the tunnel: every agent runs the edge CNI (`edgeCNI: true`), carrying pod IPs of the
    /// nodes' pod networks (their `podCIDR`, on their Node objects) between nodes.
    public var edgeCNI = false

    /// Where each agent's DNS server listens: with the edge CNI, EdgeMesh's link-local address
    /// on the agent's own device, as a production node runs it, so the node's pods reach it
    /// through their gateway; else loopback, which only the node's own processes reach.
    public var agentListenAddress: IPv4Address {
        tunnel && edgeCNI ? EdgeAgent.Configuration.defaultListenAddress : .loopback
    }

    /// Where a workload on `host` (a node, or a pod in `topology`) sends DNS queries: the agent
    /// of its node, as kubelet's `clusterDNS` points a pod at it; nil without one (a pod's only
    /// way to its node's agent is the link-local address).
    public func nameServer(forHost host: String, in topology: TopologySpec) -> SocketAddress? {
        if agents.contains(host) { return agentListenAddress.socketAddress(port: dnsPort) }
        guard let node = topology.node(runningPod: host), agents.contains(node.name), !agentListenAddress.isLoopback else { return nil }
        return agentListenAddress.socketAddress(port: dnsPort)
    }

    public init(
        agents: [String], apiServer: String? = nil, apiPort: UInt16 = 6443, clusterDomain: String = "cluster.local",
        dnsPort: UInt16 = 53, tunnel: Bool = true, relays: [String] = []
    ) {
        self.tunnel = tunnel
        self.relays = relays
        self.agents = agents
        self.apiServer = apiServer
        self.apiPort = apiPort
        self.clusterDomain = clusterDomain
        self.dnsPort = dnsPort
    }
}

/// A change to the cluster's objects at a point of the run (`kubectl apply` / `kubectl delete`).
public struct ObjectChangeSpec: Hashable, Sendable {
    public enum Action: Hashable, Sendable {
        case apply(KubernetesManifest)
        case delete(kind: String, namespace: String?, name: String)
    }

    /// Simulated time of the change, nanoseconds.
    public var at: UInt64
    public var action: Action

    public init(at: UInt64, action: Action) {
        self.at = at
        self.action = action
    }
}
