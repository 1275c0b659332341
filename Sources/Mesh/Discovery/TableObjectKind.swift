/// The kinds of object the service table holds.
///
/// `CaseIterable` order is the table's canonical order: change summaries, manifest
/// replacements and snapshots list kinds in it, so nothing depends on hashing.
public enum TableObjectKind: String, Hashable, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case service = "Service"
    case endpoints = "Endpoints"
    case endpointSlice = "EndpointSlice"
    case pod = "Pod"
    case node = "Node"
    case secret = "Secret"
    case destinationRule = "DestinationRule"
    case virtualService = "VirtualService"
    case gateway = "Gateway"

    /// The kind of `object`; nil for `.unknown`, which the table does not keep.
    public init?(of object: KubernetesObject) {
        switch object {
        case .service: self = .service
        case .endpoints: self = .endpoints
        case .endpointSlice: self = .endpointSlice
        case .pod: self = .pod
        case .node: self = .node
        case .secret: self = .secret
        case .destinationRule: self = .destinationRule
        case .virtualService: self = .virtualService
        case .gateway: self = .gateway
        case .unknown: return nil
        }
    }

    private var order: Int { Self.allCases.firstIndex(of: self)! }

    public static func < (lhs: TableObjectKind, rhs: TableObjectKind) -> Bool { lhs.order < rhs.order }

    public var description: String { rawValue }
}

extension KubernetesObject {
    /// The key the service table files this object under. Nodes are cluster-scoped, so their
    /// namespace is empty (not Kubernetes' `default`, which applies to namespaced objects only).
    public var tableKey: ObjectKey? {
        switch self {
        case .node(let node): ObjectKey(namespace: "", name: node.name)
        case .unknown: nil
        default: metadata?.key
        }
    }
}

// Typed views of a table entry, for the table's queries and the snapshot.
extension KubernetesObject {
    var serviceValue: Service? { if case .service(let object) = self { return object }; return nil }
    var endpointsValue: Endpoints? { if case .endpoints(let object) = self { return object }; return nil }
    var endpointSliceValue: EndpointSlice? { if case .endpointSlice(let object) = self { return object }; return nil }
    var podValue: Pod? { if case .pod(let object) = self { return object }; return nil }
    var nodeValue: Node? { if case .node(let object) = self { return object }; return nil }
    var secretValue: Secret? { if case .secret(let object) = self { return object }; return nil }
    var destinationRuleValue: DestinationRule? { if case .destinationRule(let object) = self { return object }; return nil }
    var virtualServiceValue: VirtualService? { if case .virtualService(let object) = self { return object }; return nil }
    var gatewayValue: Gateway? { if case .gateway(let object) = self { return object }; return nil }
}
