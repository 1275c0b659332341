/// An agent's table against its source, as both testbeds judge `tableMatchesSource`: entries
/// are "Kind namespace/name", with "@resourceVersion" when the source is an API server.
public struct TableComparison: Sendable {
    public var held: [String]
    public var wanted: [String]
    /// "the API server" or "the manifests".
    public var source: String

    public init(held: [String], wanted: [String], source: String) {
        self.held = held.sorted()
        self.wanted = wanted.sorted()
        self.source = source
    }

    /// Whether they match, with the first differences in words.
    public var verdict: (matches: Bool, detail: String) {
        guard held != wanted else { return (true, "table holds the \(wanted.count) objects of \(source)") }
        let missing = wanted.filter { !held.contains($0) }
        let extra = held.filter { !wanted.contains($0) }
        func list(_ items: [String]) -> String { items.prefix(3).joined(separator: ", ") + (items.count > 3 ? ", …" : "") }
        return (
            false,
            "table differs from \(source): \(missing.count) missing or stale (\(list(missing))), \(extra.count) extra (\(list(extra)))"
        )
    }
}
