/// A cluster Node: its addresses (for reaching its agent), readiness, and the pod networks
/// its pods take their IPs from.
public struct Node: Decodable, Hashable, Sendable {
    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: Status

    public init(metadata: ObjectMeta, spec: Spec = Spec(), status: Status = Status()) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    /// The IPv4 networks of `spec.podCIDRs` (or `spec.podCIDR` when the list is empty), in
    /// order; IPv6 and unparsable entries are left out.
    public var podNetworks: [IPv4Prefix] {
        (spec.podCIDRs.isEmpty ? [spec.podCIDR].compactMap { $0 } : spec.podCIDRs).compactMap { IPv4Prefix($0) }
    }

    /// Nodes are cluster-scoped: the name alone identifies one.
    public var name: String { metadata.name }

    public var isReady: Bool { status.conditions.isTrue("Ready") }

    /// The first address of this type, in the order the node reported them.
    public func address(ofType type: AddressType) -> String? {
        status.addresses.first { $0.type == type }?.address
    }

    enum CodingKeys: String, CodingKey { case metadata, spec, status }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        spec = try container.decodeIfPresent(Spec.self, forKey: .spec) ?? Spec()
        status = try container.decodeIfPresent(Status.self, forKey: .status) ?? Status()
    }

    /// What the node's pods are given: `podCIDR` and `podCIDRs` as the node IPAM controller (or
    /// the operator) set them, the list's first entry equal to `podCIDR`.
    public struct Spec: Decodable, Hashable, Sendable {
        public var podCIDR: String?
        public var podCIDRs: [String]

        public init(podCIDR: String? = nil, podCIDRs: [String] = []) {
            self.podCIDR = podCIDR
            self.podCIDRs = podCIDRs
        }

        enum CodingKeys: String, CodingKey { case podCIDR, podCIDRs }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            podCIDR = try container.decodeIfPresent(String.self, forKey: .podCIDR)
            podCIDRs = try container.decodeList([String].self, forKey: .podCIDRs)
        }
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
