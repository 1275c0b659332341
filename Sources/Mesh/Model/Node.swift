/// A cluster Node: its addresses (for reaching its agent) and readiness.
public struct Node: Decodable, Hashable, Sendable {
    public var metadata: ObjectMeta
    public var status: Status

    public init(metadata: ObjectMeta, status: Status = Status()) {
        self.metadata = metadata
        self.status = status
    }

    /// Nodes are cluster-scoped: the name alone identifies one.
    public var name: String { metadata.name }

    public var isReady: Bool { status.conditions.isTrue("Ready") }

    /// The first address of this type, in the order the node reported them.
    public func address(ofType type: AddressType) -> String? {
        status.addresses.first { $0.type == type }?.address
    }

    enum CodingKeys: String, CodingKey { case metadata, status }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        status = try container.decodeIfPresent(Status.self, forKey: .status) ?? Status()
    }

    public enum AddressType: String, Decodable, Hashable, Sendable, CaseIterable {
        case hostname = "Hostname"
        case internalIP = "InternalIP"
        case externalIP = "ExternalIP"
        case internalDNS = "InternalDNS"
        case externalDNS = "ExternalDNS"
    }

    public struct Address: Decodable, Hashable, Sendable {
        public var type: AddressType
        public var address: String

        public init(type: AddressType, address: String) {
            self.type = type
            self.address = address
        }
    }

    public struct Status: Decodable, Hashable, Sendable {
        public var addresses: [Address]
        public var conditions: [KubernetesCondition]

        public init(addresses: [Address] = [], conditions: [KubernetesCondition] = []) {
            self.addresses = addresses
            self.conditions = conditions
        }

        enum CodingKeys: String, CodingKey { case addresses, conditions }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            addresses = try container.decodeList([Address].self, forKey: .addresses)
            conditions = try container.decodeList([KubernetesCondition].self, forKey: .conditions)
        }
    }
}
