/// EdgeMesh's `modules.edgeCNI.meshCIDRConfig`: the networks cloud pods and edge pods take their
/// IPs from. A node whose Node object names no pod network of its own (`spec.podCIDR`, or the
/// `edgemesh.io/pod-cidr` annotation) is given one block of `nodeMaskSize` bits from the pool
/// of its kind: edge nodes (KubeEdge's `node-role.kubernetes.io/edge` label) from `edgeCIDRs`,
/// the others from `cloudCIDRs` (`PodNetworkMap`).
public struct MeshCIDRConfiguration: Hashable, Sendable, CustomStringConvertible {
    /// The label KubeEdge puts on the nodes it manages at the edge.
    public static let edgeNodeLabel = "node-role.kubernetes.io/edge"

    public var cloudCIDRs: [IPv4Prefix]
    public var edgeCIDRs: [IPv4Prefix]
    /// The length of each node's block, as kube-controller-manager's `--node-cidr-mask-size`
    /// (24: 254 pods a node).
    public var nodeMaskSize: Int

    public init(cloudCIDRs: [IPv4Prefix] = [], edgeCIDRs: [IPv4Prefix] = [], nodeMaskSize: Int = 24) {
        self.cloudCIDRs = cloudCIDRs
        self.edgeCIDRs = edgeCIDRs
        self.nodeMaskSize = min(32, max(0, nodeMaskSize))
    }

    /// The pool a node's block comes from.
    public func pool(for node: Node) -> [IPv4Prefix] {
        node.metadata.labels[Self.edgeNodeLabel] != nil ? edgeCIDRs : cloudCIDRs
    }

    public var description: String {
        func list(_ prefixes: [IPv4Prefix]) -> String { prefixes.isEmpty ? "none" : prefixes.map(\.description).joined(separator: ",") }
        return "cloudCIDR \(list(cloudCIDRs)), edgeCIDR \(list(edgeCIDRs)), a /\(nodeMaskSize) per node"
    }
}
