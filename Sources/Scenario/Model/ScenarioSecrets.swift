import Mesh

/// The Secrets among a scenario's Kubernetes objects, by `namespace/name`: where HTTPS
/// workloads find their certificates, as pods mount them from Secrets.
struct ScenarioSecrets {
    private var manifests: [String: KubernetesManifest] = [:]

    init(_ all: [KubernetesManifest]) {
        for manifest in all where manifest.kind == "Secret" {
            manifests[Self.reference(namespace: manifest.namespace, name: manifest.name)] = manifest
        }
    }

    /// `namespace/name`, or `name` in the default namespace.
    static func reference(namespace: String?, name: String) -> String {
        "\(namespace ?? "default")/\(name)"
    }

    /// The full reference for what a scenario wrote (`name` or `namespace/name`).
    static func qualified(_ written: String) -> String {
        written.contains("/") ? written : reference(namespace: nil, name: written)
    }

    var known: [String] { manifests.keys.sorted() }

    /// The decoded Secret, nil when there is none by that reference.
    func secret(_ reference: String) throws(KubernetesDecodingError) -> Secret? {
        guard let manifest = manifests[Self.qualified(reference)] else { return nil }
        return try KubernetesDecoder.decode(Secret.self, yaml: manifest.yaml)
    }
}
