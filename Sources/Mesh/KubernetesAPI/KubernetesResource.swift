/// A kind of object the API serves, and where: `/api/v1/services`,
/// `/apis/discovery.k8s.io/v1/namespaces/NS/endpointslices`, ...
public struct KubernetesResource: Hashable, Sendable, CustomStringConvertible {
    /// The API group; empty for the core group (`/api/v1`).
    public var group: String
    public var version: String
    /// The plural name in the path (`services`).
    public var plural: String
    public var kind: String
    public var isNamespaced: Bool

    public init(group: String, version: String, plural: String, kind: String, isNamespaced: Bool = true) {
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.isNamespaced = isNamespaced
    }

    public static let services = KubernetesResource(group: "", version: "v1", plural: "services", kind: "Service")
    public static let endpoints = KubernetesResource(group: "", version: "v1", plural: "endpoints", kind: "Endpoints")
    public static let endpointSlices = KubernetesResource(
        group: "discovery.k8s.io", version: "v1", plural: "endpointslices", kind: "EndpointSlice")
    public static let pods = KubernetesResource(group: "", version: "v1", plural: "pods", kind: "Pod")
    public static let nodes = KubernetesResource(group: "", version: "v1", plural: "nodes", kind: "Node", isNamespaced: false)
    public static let secrets = KubernetesResource(group: "", version: "v1", plural: "secrets", kind: "Secret")
    public static let destinationRules = KubernetesResource(
        group: "networking.istio.io", version: "v1beta1", plural: "destinationrules", kind: "DestinationRule")
    public static let virtualServices = KubernetesResource(
        group: "networking.istio.io", version: "v1beta1", plural: "virtualservices", kind: "VirtualService")
    public static let gateways = KubernetesResource(
        group: "networking.istio.io", version: "v1beta1", plural: "gateways", kind: "Gateway")

    /// `v1` or `group/version`, as objects of this resource carry it.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// The collection path, across namespaces when `namespace` is nil (or the resource is cluster-scoped).
    public func path(namespace: String? = nil) -> String {
        let root = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if let namespace, isNamespaced { return "\(root)/namespaces/\(namespace)/\(plural)" }
        return "\(root)/\(plural)"
    }

    /// The path of one object of this resource (`/api/v1/nodes/edge-1`).
    public func objectPath(name: String, namespace: String? = nil) -> String {
        "\(path(namespace: namespace ?? (isNamespaced ? "default" : nil)))/\(name)"
    }

    /// Identifies a resource regardless of version, so a store holds one set of objects per kind
    /// even when clients ask for `v1alpha3` and `v1beta1` Istio objects alike.
    public var storageKey: String { "\(group)/\(plural)" }

    public var description: String { path() }

    /// Splits an object path (`/api/v1/nodes/edge-1`) into its collection's parts and the name.
    static func parse(objectPath path: String) -> (group: String, version: String, namespace: String?, plural: String, name: String)? {
        guard let slash = path.lastIndex(of: "/"), path.index(after: slash) < path.endIndex else { return nil }
        guard let collection = parse(path: String(path[..<slash])) else { return nil }
        return (collection.group, collection.version, collection.namespace, collection.plural, String(path[path.index(after: slash)...]))
    }

    /// Splits a request path into (group, version, namespace, plural); nil when it is not a
    /// collection path.
    static func parse(path: String) -> (group: String, version: String, namespace: String?, plural: String)? {
        var parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let group: String
        let version: String
        if parts.count >= 2, parts[0] == "api" {
            group = ""
            version = parts[1]
            parts.removeFirst(2)
        } else if parts.count >= 3, parts[0] == "apis" {
            group = parts[1]
            version = parts[2]
            parts.removeFirst(3)
        } else {
            return nil
        }
        switch parts.count {
        case 1: return (group, version, nil, parts[0])
        case 3 where parts[0] == "namespaces": return (group, version, parts[1], parts[2])
        default: return nil
        }
    }
}
