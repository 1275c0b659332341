/// The legacy `v1` Endpoints object: a service's backends grouped into subsets that share ports.
///
/// Used when the API server (or an old metaServer) does not serve EndpointSlices.
public struct Endpoints: Decodable, Hashable, Sendable {
    public var metadata: ObjectMeta
    public var subsets: [Subset]

    public init(metadata: ObjectMeta, subsets: [Subset]) {
        self.metadata = metadata
        self.subsets = subsets
    }

    public var key: ObjectKey { metadata.key }

    enum CodingKeys: String, CodingKey { case metadata, subsets }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        subsets = try container.decodeList([Subset].self, forKey: .subsets)
    }

    public struct Subset: Decodable, Hashable, Sendable {
        public var addresses: [Address]
        public var notReadyAddresses: [Address]
        public var ports: [Port]

        public init(addresses: [Address] = [], notReadyAddresses: [Address] = [], ports: [Port] = []) {
            self.addresses = addresses
            self.notReadyAddresses = notReadyAddresses
            self.ports = ports
        }

        enum CodingKeys: String, CodingKey { case addresses, notReadyAddresses, ports }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            addresses = try container.decodeList([Address].self, forKey: .addresses)
            notReadyAddresses = try container.decodeList([Address].self, forKey: .notReadyAddresses)
            ports = try container.decodeList([Port].self, forKey: .ports)
        }
    }

    public struct Address: Decodable, Hashable, Sendable {
        public var ip: String
        public var nodeName: String?
        public var hostname: String?
        public var targetRef: ObjectReference?

        public init(ip: String, nodeName: String? = nil, hostname: String? = nil, targetRef: ObjectReference? = nil) {
            self.ip = ip
            self.nodeName = nodeName
            self.hostname = hostname
            self.targetRef = targetRef
        }
    }

    public struct Port: Decodable, Hashable, Sendable {
        /// Matches the service port's name; absent for a service's single unnamed port.
        public var name: String?
        public var port: Int
        public var declaredProtocol: PortProtocol?

        public init(name: String? = nil, port: Int, protocol: PortProtocol? = nil) {
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
