/// Finds the fields of an object that a model does not read, so what is present but not
/// implemented can be reported rather than dropped in silence.
enum UnsupportedFields {
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// The keys of the object `decoder` is at, other than `known`, sorted (JSON decoders do not
    /// keep document order).
    static func named(in decoder: any Decoder, besides known: Set<String>) throws -> [String] {
        try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue).filter { !known.contains($0) }.sorted()
    }
}
