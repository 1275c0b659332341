/// What `edgemesh status` shows: a snapshot of the agent, served as JSON by its local endpoint.
public struct AgentStatus: Codable, Equatable, Sendable {
    public struct ObjectCount: Codable, Equatable, Sendable {
        public var kind: String
        public var count: Int
    }

    /// One followed kind of the API source.
    public struct Source: Codable, Equatable, Sendable {
        public var resource: String
        public var state: String
        public var resourceVersion: String?
        public var lists: Int
        public var reconnects: Int
        public var lastError: String?
    }

    public struct DNS: Codable, Equatable, Sendable {
        public var listening: [String]
        public var queries: UInt64
        public var malformed: UInt64
        public var truncated: UInt64
        public var responses: [String: UInt64]
    }

    public var node: String
    /// Seconds since the agent started.
    public var uptimeSeconds: Int64
    public var tableRevision: UInt64
    public var objects: [ObjectCount]
    /// "manifests", "api <endpoint>" or "snapshot only".
    public var sourceDescription: String
    public var sources: [Source]
    public var synced: Bool
    public var dns: DNS
    /// Whether this node's tunnel key is on its Node object, and why not; nil without a tunnel.
    public var tunnelKey: String?
    /// Each peer with its path, RTT and bytes; nil without a tunnel.
    public var tunnel: TunnelStatusReport?
    /// The relays, the NAT mapping they observe, and why punching failed, one line each.
    public var relays: [String]?
    /// The gateway's ports, then what it cannot serve, one line each; nil on a node without it.
    public var gateway: [String]? = nil
    /// The SOCKS5 node proxy: where it listens, its sessions and refusals; nil without it.
    public var socks5: [String]? = nil
    /// The edge CNI's pod networks, node by node, then the refused and the unassigned; nil
    /// while it is off.
    public var podNetworks: [String]? = nil
    /// Each limit reached so far, with its count ("3 DNS TCP clients refused ..."); nil from
    /// agents from before the list.
    public var limitsReached: [String]? = nil
}
