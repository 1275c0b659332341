/// A Kubernetes Service (`v1`), as the service table, DNS and proxy read it.
///
/// Not a full client-go mirror: status, load-balancer ingress and IP families are ignored.
public struct Service: Decodable, Hashable, Sendable {
    public var metadata: ObjectMeta
    public var spec: Spec

    /// The label EdgeMesh reads to decide whether it proxies a service (see `ServiceFilter`).
    public static let proxyNameLabel = "service.edgemesh.kubeedge.io/service-proxy-name"

    public init(metadata: ObjectMeta, spec: Spec) {
        self.metadata = metadata
        self.spec = spec
    }

    public var key: ObjectKey { metadata.key }

    enum CodingKeys: String, CodingKey { case metadata, spec }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        spec = try container.decodeIfPresent(Spec.self, forKey: .spec) ?? Spec()
    }

    public enum ServiceType: String, Decodable, Hashable, Sendable, CaseIterable {
        case clusterIP = "ClusterIP"
        case nodePort = "NodePort"
        case loadBalancer = "LoadBalancer"
        case externalName = "ExternalName"
    }

    public enum SessionAffinity: String, Decodable, Hashable, Sendable, CaseIterable {
        case none = "None"
        case clientIP = "ClientIP"
    }

    /// `internalTrafficPolicy`: whether in-cluster traffic may leave the node.
    public enum TrafficPolicy: String, Decodable, Hashable, Sendable, CaseIterable {
        case cluster = "Cluster"
        case local = "Local"
    }

    /// `spec`. Raw optionals are kept as sent (`declared…`); the accessors apply Kubernetes' defaults.
    public struct Spec: Decodable, Hashable, Sendable {
        public var declaredType: ServiceType?
        /// "None" for a headless service; nil or empty when the API server has not allocated one yet.
        public var clusterIP: String?
        public var clusterIPs: [String]
        public var ports: [ServicePort]
        public var selector: [String: String]
        public var declaredSessionAffinity: SessionAffinity?
        public var declaredClientIPTimeoutSeconds: Int?
        public var externalName: String?
        public var declaredInternalTrafficPolicy: TrafficPolicy?
        public var declaredPublishNotReadyAddresses: Bool?

        /// The Kubernetes default for `sessionAffinityConfig.clientIP.timeoutSeconds` (3 hours).
        public static let defaultClientIPTimeoutSeconds = 10800

        public init(
            type: ServiceType? = nil, clusterIP: String? = nil, clusterIPs: [String] = [],
            ports: [ServicePort] = [], selector: [String: String] = [:],
            sessionAffinity: SessionAffinity? = nil, clientIPTimeoutSeconds: Int? = nil,
            externalName: String? = nil, internalTrafficPolicy: TrafficPolicy? = nil,
            publishNotReadyAddresses: Bool? = nil
        ) {
            self.declaredType = type
            self.clusterIP = clusterIP
            self.clusterIPs = clusterIPs
            self.ports = ports
            self.selector = selector
            self.declaredSessionAffinity = sessionAffinity
            self.declaredClientIPTimeoutSeconds = clientIPTimeoutSeconds
            self.externalName = externalName
            self.declaredInternalTrafficPolicy = internalTrafficPolicy
            self.declaredPublishNotReadyAddresses = publishNotReadyAddresses
        }

        public var type: ServiceType { declaredType ?? .clusterIP }
        public var sessionAffinity: SessionAffinity { declaredSessionAffinity ?? .none }
        public var clientIPTimeoutSeconds: Int {
            declaredClientIPTimeoutSeconds ?? Self.defaultClientIPTimeoutSeconds
        }
        public var internalTrafficPolicy: TrafficPolicy { declaredInternalTrafficPolicy ?? .cluster }
        public var publishNotReadyAddresses: Bool { declaredPublishNotReadyAddresses ?? false }

        /// Headless: DNS answers with the endpoints themselves and nothing is proxied.
        public var isHeadless: Bool { type != .externalName && clusterIP == "None" }

        /// The allocated cluster IPs, primary first; empty for headless and ExternalName services.
        public var allocatedClusterIPs: [String] {
            if type == .externalName { return [] }
            let all = clusterIPs.isEmpty ? [clusterIP].compactMap { $0 } : clusterIPs
            return all.filter { !$0.isEmpty && $0 != "None" }
        }

        /// The port with this name (`""` finds the single unnamed port).
        public func port(named name: String) -> ServicePort? {
            ports.first { ($0.name ?? "") == name }
        }

        enum CodingKeys: String, CodingKey {
            case type, clusterIP, clusterIPs, ports, selector, sessionAffinity, sessionAffinityConfig
            case externalName, internalTrafficPolicy, publishNotReadyAddresses
        }

        private struct AffinityConfig: Decodable {
            struct ClientIP: Decodable { var timeoutSeconds: Int? }
            var clientIP: ClientIP?
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            declaredType = try container.decodeIfPresent(ServiceType.self, forKey: .type)
            clusterIP = try container.decodeIfPresent(String.self, forKey: .clusterIP)
            clusterIPs = try container.decodeList([String].self, forKey: .clusterIPs)
            ports = try container.decodeList([ServicePort].self, forKey: .ports)
            selector = try container.decodeIfPresent([String: String].self, forKey: .selector) ?? [:]
            declaredSessionAffinity = try container.decodeIfPresent(SessionAffinity.self, forKey: .sessionAffinity)
            declaredClientIPTimeoutSeconds = try container
                .decodeIfPresent(AffinityConfig.self, forKey: .sessionAffinityConfig)?.clientIP?.timeoutSeconds
            externalName = try container.decodeIfPresent(String.self, forKey: .externalName)
            declaredInternalTrafficPolicy = try container.decodeIfPresent(TrafficPolicy.self, forKey: .internalTrafficPolicy)
            declaredPublishNotReadyAddresses = try container.decodeIfPresent(Bool.self, forKey: .publishNotReadyAddresses)
        }
    }
}
