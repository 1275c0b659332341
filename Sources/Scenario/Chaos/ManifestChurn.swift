import NetworkTopology
import Yams

/// The manifest churn chaos draws from a scenario's objects: a Service or its Endpoints
/// deleted, Endpoints narrowed to one address, an object replaced by a malformed version of
/// itself, or a malformed new Service; each put back as it was when the fault ends. Malformed
/// objects are what a manifest file or a CRD without a schema lets through; an agent must
/// skip them and keep everything else.
struct ManifestChurn {
    private let services: [KubernetesManifest]
    private let endpoints: [KubernetesManifest]

    init(manifests: [KubernetesManifest]) {
        services = manifests.filter { $0.kind == "Service" }
        endpoints = manifests.filter { $0.kind == "Endpoints" }
    }

    /// The changes of one churn fault (`index` names a new object uniquely) and its words.
    func draw(at: UInt64, duration: UInt64, index: Int, random: inout SplitMix64) -> (changes: [ObjectChangeSpec], description: String) {
        let end = at + duration
        enum Choice { case deleteService, deleteEndpoints, narrowEndpoints, malformEndpoints, malformedService }
        var choices: [Choice] = [.malformedService]
        if !services.isEmpty { choices.append(.deleteService) }
        if !endpoints.isEmpty { choices += [.deleteEndpoints, .malformEndpoints] }
        let narrowable = endpoints.filter { Self.narrowed($0) != nil }
        if !narrowable.isEmpty { choices.append(.narrowEndpoints) }

        func replaced(_ original: KubernetesManifest, by changed: KubernetesManifest, _ words: String) -> ([ObjectChangeSpec], String) {
            ([ObjectChangeSpec(at: at, action: .apply(changed)), ObjectChangeSpec(at: end, action: .apply(original))], words)
        }
        func deleted(_ original: KubernetesManifest) -> ([ObjectChangeSpec], String) {
            let delete = ObjectChangeSpec.Action.delete(kind: original.kind, namespace: original.namespace, name: original.name)
            return ([ObjectChangeSpec(at: at, action: delete), ObjectChangeSpec(at: end, action: .apply(original))],
                "\(original.kind) \(Self.key(original)) deleted, then restored")
        }
        switch random.pick(choices) {
        case .deleteService:
            return deleted(random.pick(services))
        case .deleteEndpoints:
            return deleted(random.pick(endpoints))
        case .narrowEndpoints:
            let original = random.pick(narrowable)
            return replaced(original, by: Self.narrowed(original)!, "Endpoints \(Self.key(original)) narrowed to its first address, then restored")
        case .malformEndpoints:
            let original = random.pick(endpoints)
            var broken = original
            broken.yaml = """
                apiVersion: v1
                kind: Endpoints
                metadata: {name: \(original.name), namespace: \(original.namespace ?? "default")}
                subsets: [{addresses: [{ip: 300.1.2.3}], ports: [{port: not-a-port}]}]
                """
            return replaced(original, by: broken, "Endpoints \(Self.key(original)) replaced by a malformed version, then restored")
        case .malformedService:
            let name = "chaos-malformed-\(index)"
            let yaml = """
                apiVersion: v1
                kind: Service
                metadata: {name: \(name), namespace: default}
                spec: {clusterIP: 10.96.255.999, ports: [{name: http, port: not-a-port}]}
                """
            let manifest = KubernetesManifest(apiVersion: "v1", kind: "Service", name: name, namespace: "default", yaml: yaml)
            return (
                [ObjectChangeSpec(at: at, action: .apply(manifest)),
                 ObjectChangeSpec(at: end, action: .delete(kind: "Service", namespace: "default", name: name))],
                "malformed Service default/\(name) applied, then deleted")
        }
    }

    private static func key(_ manifest: KubernetesManifest) -> String { "\(manifest.namespace ?? "default")/\(manifest.name)" }

    /// The Endpoints with only the first address of its first subset; nil when it has fewer
    /// than two addresses (or does not read as an Endpoints object).
    static func narrowed(_ manifest: KubernetesManifest) -> KubernetesManifest? {
        guard var object = (try? Yams.load(yaml: manifest.yaml)) as? [String: Any],
            var subsets = object["subsets"] as? [[String: Any]], var first = subsets.first,
            let addresses = first["addresses"] as? [Any],
            addresses.count + subsets.dropFirst().reduce(0, { $0 + (($1["addresses"] as? [Any])?.count ?? 0) }) >= 2
        else { return nil }
        first["addresses"] = [addresses[0]]
        subsets = [first]
        object["subsets"] = subsets
        guard let yaml = try? Yams.dump(object: object, sortKeys: true) else { return nil }
        var narrowed = manifest
        narrowed.yaml = yaml
        return narrowed
    }
}
