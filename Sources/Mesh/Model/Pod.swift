/// A Pod, reduced to what DNS (pod A records, hostname/subdomain) and the proxy need.
public struct Pod: Decodable, Hashable, Sendable {
    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: Status

    public init(metadata: ObjectMeta, spec: Spec = Spec(), status: Status = Status()) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    public var key: ObjectKey { metadata.key }

    /// Ready when the `Ready` condition is "True" (a Pod without conditions is not ready).
    public var isReady: Bool { status.conditions.isTrue("Ready") }

    enum CodingKeys: String, CodingKey { case metadata, spec, status }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        spec = try container.decodeIfPresent(Spec.self, forKey: .spec) ?? Spec()
        status = try container.decodeIfPresent(Status.self, forKey: .status) ?? Status()
    }

    public enum Phase: String, Decodable, Hashable, Sendable, CaseIterable {
        case pending = "Pending"
        case running = "Running"
        case succeeded = "Succeeded"
        case failed = "Failed"
        case unknown = "Unknown"
    }

    public struct Spec: Decodable, Hashable, Sendable {
        public var nodeName: String?
        public var hostname: String?
        public var subdomain: String?

        public init(nodeName: String? = nil, hostname: String? = nil, subdomain: String? = nil) {
            self.nodeName = nodeName
            self.hostname = hostname
            self.subdomain = subdomain
        }
    }

    public struct Status: Decodable, Hashable, Sendable {
        public var declaredPhase: Phase?
        public var podIP: String?
        public var podIPs: [String]
        public var conditions: [KubernetesCondition]

        public init(phase: Phase? = nil, podIP: String? = nil, podIPs: [String] = [], conditions: [KubernetesCondition] = []) {
            self.declaredPhase = phase
            self.podIP = podIP
            self.podIPs = podIPs
            self.conditions = conditions
        }

        /// Kubernetes starts every Pod as Pending.
        public var phase: Phase { declaredPhase ?? .pending }

        /// All pod IPs, primary first; falls back to `podIP` for servers that send only that.
        public var allPodIPs: [String] {
            if !podIPs.isEmpty { return podIPs }
            return podIP.map { [$0] } ?? []
        }

        enum CodingKeys: String, CodingKey { case phase, podIP, podIPs, conditions }

        // `podIPs` is a list of `{ip: ...}` objects on the wire.
        private struct PodIP: Decodable { var ip: String }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            declaredPhase = try container.decodeIfPresent(Phase.self, forKey: .phase)
            podIP = try container.decodeIfPresent(String.self, forKey: .podIP)
            podIPs = try container.decodeIfPresent([PodIP].self, forKey: .podIPs)?.map(\.ip) ?? []
            conditions = try container.decodeList([KubernetesCondition].self, forKey: .conditions)
        }
    }
}
