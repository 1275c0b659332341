/// The objects of a manifest directory (`edgemesh agent --manifests DIR`, scenario files):
/// what the table must hold, parsed from the text of every file.
///
/// Reading the directory is the platform's business; this only parses. Files are read in
/// name order and documents in file order, so when two documents declare the same object the
/// later one wins, as repeated `kubectl apply` would leave it (and the earlier is reported).
/// Malformed documents are skipped and reported; they never stop the rest.
///
/// A file that no longer parses is never taken as a file that declares nothing: handed the set
/// built from the previous contents (`previous`), a file that cannot be read at all keeps the
/// objects it declared then, and a document that fails keeps its object's last good version
/// from the same file. A file of which nothing is known yet is listed in `unparsedFiles`, so
/// the caller can leave alone what it may declare (after a restart, what the snapshot holds).
public struct ManifestSet: Hashable, Sendable {
    /// The objects the table keeps, per kind, sorted by key.
    public private(set) var objects: [TableObjectKind: [KubernetesObject]]
    /// Documents that were skipped, in file then document order.
    public private(set) var problems: [ManifestProblem]
    /// The objects each file declared (kept over from `previous` where it failed), in
    /// document order: what the next set keeps of a file that then fails to parse.
    public private(set) var declarations: [String: [KubernetesObject]]
    /// Files that could not be parsed and of which `previous` knew nothing.
    public private(set) var unparsedFiles: [String]

    /// Parses `files` (file name → full text); `previous` is the set built from the last
    /// contents of the same directory, whose objects stand in for files that fail now.
    public init(files: [String: String], previous: ManifestSet? = nil) {
        var byKind: [TableObjectKind: [ObjectKey: (object: KubernetesObject, file: String)]] = [:]
        var problems: [ManifestProblem] = []
        var declarations: [String: [KubernetesObject]] = [:]
        var unparsedFiles: [String] = []
        for file in files.keys.sorted() {
            var declared: [KubernetesObject]
            do throws(KubernetesDecodingError) {
                let decoded = try KubernetesObject.decodeDocuments(yaml: files[file]!)
                declared = decoded.objects
                for problem in decoded.skipped {
                    let kept = previous?.declarations[file]?.first { Self.isObject($0, namedIn: problem) }
                    if let kept { declared.append(kept) }
                    var reported = problem
                    if kept != nil { reported.reason += "; keeping its last good version" }
                    problems.append(ManifestProblem(file: file, problem: reported))
                }
            } catch {
                let kept = previous?.declarations[file]
                declared = kept ?? []
                let note = kept.map { " (keeping the \($0.count) object\($0.count == 1 ? "" : "s") of its last good version)" }
                    ?? " (nothing is known yet of what it declares)"
                if kept == nil { unparsedFiles.append(file) }
                problems.append(ManifestProblem(file: file, problem: DecodingProblem(fieldPath: "", reason: error.description + note)))
            }
            declarations[file] = declared
            // Kinds the mesh does not use (Deployments and the like) are legitimately present.
            for object in declared {
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
        self.declarations = declarations
        self.unparsedFiles = unparsedFiles
    }

    /// Whether `object` is the one a skipped document named (kind, namespace and name).
    private static func isObject(_ object: KubernetesObject, namedIn problem: DecodingProblem) -> Bool {
        guard let kind = TableObjectKind(of: object), let key = object.tableKey, let name = problem.name else { return false }
        return kind.rawValue == problem.kind && key.name == name
            && (kind == .node || key.namespace == (problem.namespace ?? "default"))
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
