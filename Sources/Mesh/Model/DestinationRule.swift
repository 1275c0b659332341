import NIOCore

/// An Istio `DestinationRule` (networking.istio.io v1alpha3, v1beta1 or v1): how traffic to
/// one host is balanced, and the named subsets VirtualService routes may target.
///
/// Load balancing, outlier detection and subsets are modelled; connection pools and TLS
/// settings are ignored like any unknown field.
public struct DestinationRule: Decodable, Hashable, Sendable {
    public var metadata: ObjectMeta
    public var spec: Spec

    public init(metadata: ObjectMeta, spec: Spec) {
        self.metadata = metadata
        self.spec = spec
    }

    public var key: ObjectKey { metadata.key }

    public struct Spec: Decodable, Hashable, Sendable {
        public var host: String
        public var trafficPolicy: TrafficPolicy?
        public var subsets: [Subset]

        public init(host: String, trafficPolicy: TrafficPolicy? = nil, subsets: [Subset] = []) {
            self.host = host
            self.trafficPolicy = trafficPolicy
            self.subsets = subsets
        }

        enum CodingKeys: String, CodingKey { case host, trafficPolicy, subsets }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            host = try container.decode(String.self, forKey: .host)
            trafficPolicy = try container.decodeIfPresent(TrafficPolicy.self, forKey: .trafficPolicy)
            subsets = try container.decodeList([Subset].self, forKey: .subsets)
        }

        /// The policy for traffic to `subset`: the subset's own, else the rule's.
        public func loadBalancer(forSubset subset: String?) -> LoadBalancerSettings? {
            if let subset, let own = subsets.first(where: { $0.name == subset })?.trafficPolicy?.loadBalancer {
                return own
            }
            return trafficPolicy?.loadBalancer
        }
    }

    public struct Subset: Decodable, Hashable, Sendable {
        public var name: String
        public var labels: [String: String]
        public var trafficPolicy: TrafficPolicy?

        public init(name: String, labels: [String: String] = [:], trafficPolicy: TrafficPolicy? = nil) {
            self.name = name
            self.labels = labels
            self.trafficPolicy = trafficPolicy
        }

        enum CodingKeys: String, CodingKey { case name, labels, trafficPolicy }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
            trafficPolicy = try container.decodeIfPresent(TrafficPolicy.self, forKey: .trafficPolicy)
        }
    }

    public struct TrafficPolicy: Decodable, Hashable, Sendable {
        /// Nil when the policy sets only things this model ignores (e.g. locality settings).
        public var loadBalancer: LoadBalancerSettings?
        /// Nil when the rule does not ask for outlier detection: then no host is ejected.
        public var outlierDetection: OutlierDetection?

        public init(loadBalancer: LoadBalancerSettings?, outlierDetection: OutlierDetection? = nil) {
            self.loadBalancer = loadBalancer
            self.outlierDetection = outlierDetection
        }

        enum CodingKeys: String, CodingKey { case loadBalancer, outlierDetection }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let settings = try container.decodeIfPresent(WireLoadBalancerSettings.self, forKey: .loadBalancer)
            loadBalancer = settings?.policy
            outlierDetection = try container.decodeIfPresent(OutlierDetection.self, forKey: .outlierDetection)
        }
    }

    /// `trafficPolicy.loadBalancer`: Istio's one-of between a simple algorithm and consistent hashing.
    public enum LoadBalancerSettings: Hashable, Sendable {
        case simple(SimpleAlgorithm)
        case consistentHash(ConsistentHash)
    }

    public enum SimpleAlgorithm: String, Decodable, Hashable, Sendable, CaseIterable {
        case unspecified = "UNSPECIFIED"
        case roundRobin = "ROUND_ROBIN"
        case random = "RANDOM"
        case leastRequest = "LEAST_REQUEST"
        /// Istio's deprecated spelling of `LEAST_REQUEST`; kept distinct so nothing is lost.
        case leastConn = "LEAST_CONN"
        case passthrough = "PASSTHROUGH"
    }

    public struct ConsistentHash: Hashable, Sendable {
        public var key: HashKey
        public var declaredMinimumRingSize: Int?

        /// Istio's default ring size.
        public static let defaultMinimumRingSize = 1024

        public init(key: HashKey, minimumRingSize: Int? = nil) {
            self.key = key
            self.declaredMinimumRingSize = minimumRingSize
        }

        public var minimumRingSize: Int { declaredMinimumRingSize ?? Self.defaultMinimumRingSize }
    }

    /// What a consistent hash is computed over.
    public enum HashKey: Hashable, Sendable {
        case httpHeaderName(String)
        case httpCookie(HTTPCookie)
        case sourceIP
        case httpQueryParameterName(String)
    }

    public struct HTTPCookie: Hashable, Sendable {
        public var name: String
        public var path: String?
        /// Nil when absent; zero means a session cookie (Istio: "0s").
        public var ttl: TimeAmount?

        public init(name: String, path: String? = nil, ttl: TimeAmount? = nil) {
            self.name = name
            self.path = path
            self.ttl = ttl
        }
    }
}

/// The wire shape of `loadBalancer`, turned into `DestinationRule.LoadBalancerSettings` with Istio's rules
/// checked: at most one of `simple`/`consistentHash`, and exactly one hash key.
private struct WireLoadBalancerSettings: Decodable {
    var policy: DestinationRule.LoadBalancerSettings?

    enum CodingKeys: String, CodingKey { case simple, consistentHash }
    enum HashCodingKeys: String, CodingKey {
        case httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName, minimumRingSize
    }
    enum CookieCodingKeys: String, CodingKey { case name, path, ttl }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let simple = try container.decodeIfPresent(DestinationRule.SimpleAlgorithm.self, forKey: .simple)
        guard container.contains(.consistentHash), try !container.decodeNil(forKey: .consistentHash) else {
            policy = simple.map { .simple($0) }
            return
        }
        guard simple == nil else {
            throw DecodingError.dataCorruptedError(
                forKey: .consistentHash, in: container,
                debugDescription: "set either simple or consistentHash, not both")
        }
        let hash = try container.nestedContainer(keyedBy: HashCodingKeys.self, forKey: .consistentHash)
        var keys: [DestinationRule.HashKey] = []
        if let header = try hash.decodeIfPresent(String.self, forKey: .httpHeaderName) {
            keys.append(.httpHeaderName(header))
        }
        if hash.contains(.httpCookie), try !hash.decodeNil(forKey: .httpCookie) {
            let cookie = try hash.nestedContainer(keyedBy: CookieCodingKeys.self, forKey: .httpCookie)
            var ttl: TimeAmount?
            if let text = try cookie.decodeIfPresent(String.self, forKey: .ttl) {
                do {
                    ttl = try IstioDuration.parse(text)
                } catch {
                    throw DecodingError.dataCorruptedError(forKey: .ttl, in: cookie, debugDescription: error.description)
                }
            }
            keys.append(.httpCookie(DestinationRule.HTTPCookie(
                name: try cookie.decode(String.self, forKey: .name),
                path: try cookie.decodeIfPresent(String.self, forKey: .path), ttl: ttl)))
        }
        if try hash.decodeIfPresent(Bool.self, forKey: .useSourceIp) == true {
            keys.append(.sourceIP)
        }
        if let parameter = try hash.decodeIfPresent(String.self, forKey: .httpQueryParameterName) {
            keys.append(.httpQueryParameterName(parameter))
        }
        guard keys.count == 1, let key = keys.first else {
            throw DecodingError.dataCorruptedError(
                forKey: .consistentHash, in: container,
                debugDescription: keys.isEmpty
                    ? "consistentHash names no hash key (httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName)"
                    : "consistentHash names more than one hash key")
        }
        // Protobuf JSON may send the 64-bit ring size as a string.
        var ringSize: Int?
        if let number = try? hash.decodeIfPresent(Int.self, forKey: .minimumRingSize) {
            ringSize = number
        } else if let text = try hash.decodeIfPresent(String.self, forKey: .minimumRingSize) {
            guard let number = Int(text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .minimumRingSize, in: hash, debugDescription: "expected an integer, found \"\(text)\"")
            }
            ringSize = number
        }
        policy = .consistentHash(DestinationRule.ConsistentHash(key: key, minimumRingSize: ringSize))
    }
}
