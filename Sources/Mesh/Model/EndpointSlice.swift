/// A `discovery.k8s.io/v1` EndpointSlice: one slice of a service's backends.
///
/// A service owns several slices; the label `kubernetes.io/service-name` says which.
public struct EndpointSlice: Decodable, Hashable, Sendable {
    public var metadata: ObjectMeta
    public var addressType: AddressType
    public var endpoints: [Endpoint]
    public var ports: [Port]

    /// The label that ties a slice to its service.
    public static let serviceNameLabel = "kubernetes.io/service-name"

    public init(metadata: ObjectMeta, addressType: AddressType, endpoints: [Endpoint], ports: [Port]) {
        self.metadata = metadata
        self.addressType = addressType
        self.endpoints = endpoints
        self.ports = ports
    }

    public var key: ObjectKey { metadata.key }

    /// The service this slice belongs to, or nil when the label is missing.
    public var serviceKey: ObjectKey? {
        metadata.labels[Self.serviceNameLabel].map { ObjectKey(namespace: metadata.namespace, name: $0) }
    }

    enum CodingKeys: String, CodingKey { case metadata, addressType, endpoints, ports }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        addressType = try container.decode(AddressType.self, forKey: .addressType)
        endpoints = try container.decodeList([Endpoint].self, forKey: .endpoints)
        ports = try container.decodeList([Port].self, forKey: .ports)
    }

    public enum AddressType: String, Decodable, Hashable, Sendable, CaseIterable {
        case ipv4 = "IPv4"
        case ipv6 = "IPv6"
        case fqdn = "FQDN"
    }

    public struct Endpoint: Decodable, Hashable, Sendable {
        public var addresses: [String]
        public var conditions: Conditions
        public var nodeName: String?
        public var hostname: String?
        public var zone: String?
        public var targetRef: ObjectReference?

        public init(
            addresses: [String], conditions: Conditions = Conditions(), nodeName: String? = nil,
            hostname: String? = nil, zone: String? = nil, targetRef: ObjectReference? = nil
        ) {
            self.addresses = addresses
            self.conditions = conditions
            self.nodeName = nodeName
            self.hostname = hostname
            self.zone = zone
            self.targetRef = targetRef
        }

        enum CodingKeys: String, CodingKey { case addresses, conditions, nodeName, hostname, zone, targetRef }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            addresses = try container.decode([String].self, forKey: .addresses).withExactCapacity
            conditions = try container.decodeIfPresent(Conditions.self, forKey: .conditions) ?? Conditions()
            nodeName = try container.decodeIfPresent(String.self, forKey: .nodeName)
            hostname = try container.decodeIfPresent(String.self, forKey: .hostname)
            zone = try container.decodeIfPresent(String.self, forKey: .zone)
            targetRef = try container.decodeIfPresent(ObjectReference.self, forKey: .targetRef)
        }
    }

    /// Endpoint conditions. Kubernetes says an unknown (absent) `ready` or `serving` is to be
    /// read as true, and an absent `terminating` as false.
    public struct Conditions: Decodable, Hashable, Sendable {
        public var declaredReady: Bool?
        public var declaredServing: Bool?
        public var declaredTerminating: Bool?

        public init(ready: Bool? = nil, serving: Bool? = nil, terminating: Bool? = nil) {
            declaredReady = ready
            declaredServing = serving
            declaredTerminating = terminating
        }

        public var ready: Bool { declaredReady ?? true }
        public var serving: Bool { declaredServing ?? ready }
        public var terminating: Bool { declaredTerminating ?? false }

        enum CodingKeys: String, CodingKey {
            case declaredReady = "ready"
            case declaredServing = "serving"
            case declaredTerminating = "terminating"
        }
    }

    public struct Port: Decodable, Hashable, Sendable {
        public var name: String?
        /// Nil means "all ports" in Kubernetes; such a port carries no number to dial.
        public var port: Int?
        public var declaredProtocol: PortProtocol?

        public init(name: String? = nil, port: Int?, protocol: PortProtocol? = nil) {
            self.name = name
            self.port = port
            self.declaredProtocol = `protocol`
        }

        public var `protocol`: PortProtocol { declaredProtocol ?? .tcp }

        enum CodingKeys: String, CodingKey {
            case name, port
            case declaredProtocol = "protocol"
        }
    }
}
