import Yams

/// The entries of one YAML mapping in document order, merge keys (`<<: *anchor`) expanded.
struct MappingEntries {
    let value: LocatedNode
    /// `keyLine` is where the key is written, for errors about the key rather than its value.
    let entries: [(key: String, keyLine: Int?, node: Yams.Node)]

    var keys: [String] { entries.map(\.key) }

    subscript(key: String) -> LocatedNode? {
        entries.first { $0.key == key }.map { value.child(key, $0.node) }
    }
}
