/// The `metadata` block every Kubernetes object carries, reduced to what the mesh reads.
///
/// Fields the API server may omit stay optional; the namespace default is applied by
/// `namespace`, so a manifest without one lands in `default` exactly as `kubectl apply` does.
public struct ObjectMeta: Decodable, Hashable, Sendable {
    /// Empty when absent: watch bookmarks carry metadata with only a resource version.
    public var name: String
    /// The namespace as sent; nil for cluster-scoped objects and manifests that leave it out.
    public var declaredNamespace: String?
    public var labels: [String: String]
    public var annotations: [String: String]
    public var resourceVersion: String?
    public var uid: String?
    /// RFC 3339 text as sent; set while the object is being deleted (kept as text: Mesh has no wall clock to compare it with).
    public var deletionTimestamp: String?

    public init(
        name: String, namespace: String? = nil, labels: [String: String] = [:],
        annotations: [String: String] = [:], resourceVersion: String? = nil, uid: String? = nil,
        deletionTimestamp: String? = nil
    ) {
        self.name = name
        self.declaredNamespace = namespace
        self.labels = labels
        self.annotations = annotations
        self.resourceVersion = resourceVersion
        self.uid = uid
        self.deletionTimestamp = deletionTimestamp
    }

    /// The namespace with Kubernetes' default applied.
    public var namespace: String { declaredNamespace ?? "default" }

    public var key: ObjectKey { ObjectKey(namespace: namespace, name: name) }

    public var isBeingDeleted: Bool { deletionTimestamp != nil }

    enum CodingKeys: String, CodingKey {
        case name, namespace, labels, annotations, resourceVersion, uid, deletionTimestamp
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        declaredNamespace = try container.decodeIfPresent(String.self, forKey: .namespace)
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        annotations = try container.decodeIfPresent([String: String].self, forKey: .annotations) ?? [:]
        resourceVersion = try container.decodeIfPresent(String.self, forKey: .resourceVersion)
        uid = try container.decodeIfPresent(String.self, forKey: .uid)
        deletionTimestamp = try container.decodeIfPresent(String.self, forKey: .deletionTimestamp)
    }
}
