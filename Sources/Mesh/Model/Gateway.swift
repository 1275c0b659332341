/// An Istio `Gateway`: the ports, hosts and TLS settings the gateway role listens with.
public struct Gateway: Decodable, Hashable, Sendable {
    public var metadata: ObjectMeta
    public var spec: Spec

    public init(metadata: ObjectMeta, spec: Spec) {
        self.metadata = metadata
        self.spec = spec
    }

    public var key: ObjectKey { metadata.key }

    public struct Spec: Decodable, Hashable, Sendable {
        /// Labels of the gateway workloads (nodes/pods) that should apply this Gateway.
        public var selector: [String: String]
        public var servers: [Server]

        public init(selector: [String: String] = [:], servers: [Server]) {
            self.selector = selector
            self.servers = servers
        }

        enum CodingKeys: String, CodingKey { case selector, servers }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            selector = try container.decodeIfPresent([String: String].self, forKey: .selector) ?? [:]
            servers = try container.decodeList([Server].self, forKey: .servers)
        }
    }

    public struct Server: Decodable, Hashable, Sendable {
        public var name: String?
        public var port: Port
        public var hosts: [String]
        public var tls: TLS?

        public init(name: String? = nil, port: Port, hosts: [String], tls: TLS? = nil) {
            self.name = name
            self.port = port
            self.hosts = hosts
            self.tls = tls
        }

        enum CodingKeys: String, CodingKey { case name, port, hosts, tls }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            port = try container.decode(Port.self, forKey: .port)
            hosts = try container.decodeList([String].self, forKey: .hosts)
            tls = try container.decodeIfPresent(TLS.self, forKey: .tls)
        }
    }

    public struct Port: Decodable, Hashable, Sendable {
        public var number: Int
        public var name: String?
        /// As sent (HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP, TLS); `normalizedProtocol` upper-cases it.
        public var `protocol`: String

        public init(number: Int, name: String? = nil, protocol: String) {
            self.number = number
            self.name = name
            self.protocol = `protocol`
        }

        public var normalizedProtocol: String { self.protocol.uppercased() }
    }

    public struct TLS: Decodable, Hashable, Sendable {
        public var declaredMode: TLSMode?
        /// The Secret holding the certificate and key (in the gateway's namespace).
        public var credentialName: String?
        public var httpsRedirect: Bool?

        public init(mode: TLSMode? = nil, credentialName: String? = nil, httpsRedirect: Bool? = nil) {
            self.declaredMode = mode
            self.credentialName = credentialName
            self.httpsRedirect = httpsRedirect
        }

        /// Istio's default mode is PASSTHROUGH.
        public var mode: TLSMode { declaredMode ?? .passthrough }

        enum CodingKeys: String, CodingKey {
            case credentialName, httpsRedirect
            case declaredMode = "mode"
        }
    }

    public enum TLSMode: String, Decodable, Hashable, Sendable, CaseIterable {
        case passthrough = "PASSTHROUGH"
        case simple = "SIMPLE"
        case mutual = "MUTUAL"
        case autoPassthrough = "AUTO_PASSTHROUGH"
        case istioMutual = "ISTIO_MUTUAL"
        case optionalMutual = "OPTIONAL_MUTUAL"
    }
}
