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
}
