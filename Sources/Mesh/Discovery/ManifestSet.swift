/// The objects of a manifest directory (`edgemesh agent --manifests DIR`, scenario files):
/// what the table must hold, parsed from the text of every file.
///
/// Reading the directory is the platform's business; this only parses. Files are read in
/// name order and documents in file order, so when two documents declare the same object the
/// later one wins, as repeated `kubectl apply` would leave it (and the earlier is reported).
/// Malformed documents are skipped and reported; they never stop the rest.
public struct ManifestSet: Hashable, Sendable {
    /// The objects the table keeps, per kind, sorted by key.
    public private(set) var objects: [TableObjectKind: [KubernetesObject]]
    /// Documents that were skipped, in file then document order.
    public private(set) var problems: [ManifestProblem]

    /// Parses `files` (file name → full text).
    public init(files: [String: String]) {
        var byKind: [TableObjectKind: [ObjectKey: (object: KubernetesObject, file: String)]] = [:]
        var problems: [ManifestProblem] = []
        for file in files.keys.sorted() {
            let decoded: (objects: [KubernetesObject], skipped: [DecodingProblem])
            do throws(KubernetesDecodingError) {
                decoded = try KubernetesObject.decodeDocuments(yaml: files[file]!)
            } catch {
                problems.append(ManifestProblem(file: file, problem: DecodingProblem(fieldPath: "", reason: error.description)))
                continue
            }
            problems += decoded.skipped.map { ManifestProblem(file: file, problem: $0) }
            // Kinds the mesh does not use (Deployments and the like) are legitimately present.
            for object in decoded.objects {
                guard let kind = TableObjectKind(of: object), let key = object.tableKey else { continue }
                if let earlier = byKind[kind]?[key] {
                    problems.append(ManifestProblem(file: file, problem: DecodingProblem(
                        kind: kind.rawValue, namespace: kind == .node ? nil : key.namespace, name: key.name,
                        fieldPath: "", reason: "declared again; this declaration replaces the one in \(earlier.file)")))
                }
                byKind[kind, default: [:]][key] = (object, file)
            }
        }
        objects = byKind.mapValues { entries in entries.keys.sorted().map { entries[$0]!.object } }
        self.problems = problems
    }

    /// The replacements that bring a table to exactly this set: one `replaceAll` for every
    /// kind (an empty one for a kind no manifest declares), in `TableObjectKind` order.
    public var changes: [TableChange] {
        TableObjectKind.allCases.map { .replaceAll(kind: $0, objects: objects[$0] ?? []) }
    }

    /// How many objects the set holds.
    public var objectCount: Int {
        objects.values.reduce(0) { $0 + $1.count }
    }
}
