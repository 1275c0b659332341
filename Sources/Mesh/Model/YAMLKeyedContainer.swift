import Yams

/// A YAML mapping seen as a keyed container (see `YAMLNodeDecoder`). Keys are compared as
/// text; a key given twice takes its last value; merged keys (`<<`) yield to the mapping's own.
struct YAMLKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let codingPath: [any CodingKey]
    /// Key text → value, own keys over merged ones.
    private let values: [String: Yams.Node]
    /// Key texts in document order (merged keys first), for `allKeys`.
    private let order: [String]

    init(mapping: Yams.Node.Mapping, codingPath: [any CodingKey]) {
        self.codingPath = codingPath
        var pairs: [(key: String, value: Yams.Node)] = []
        Self.flatten(mapping, into: &pairs)
        var values: [String: Yams.Node] = [:]
        var order: [String] = []
        for pair in pairs {
            if values.updateValue(pair.value, forKey: pair.key) == nil { order.append(pair.key) }
        }
        self.values = values
        self.order = order
    }

    /// The mapping's scalar-keyed pairs, merged ones first so the mapping's own replace them.
    private static func flatten(_ mapping: Yams.Node.Mapping, into pairs: inout [(key: String, value: Yams.Node)]) {
        var own: [(key: String, value: Yams.Node)] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else { continue }
            guard scalar.string == "<<", scalar.style == .plain else {
                own.append((scalar.string, value))
                continue
            }
            switch value {
            case .mapping(let merged):
                flatten(merged, into: &pairs)
            case .sequence(let sequence):
                // Earlier mappings in the list take precedence, so they are applied last.
                for case .mapping(let merged) in sequence.reversed() { flatten(merged, into: &pairs) }
            case .scalar:
                break
            }
        }
        pairs += own
    }

    var allKeys: [Key] { order.compactMap(Key.init(stringValue:)) }

    func contains(_ key: Key) -> Bool { values[key.stringValue] != nil }

    func decodeNil(forKey key: Key) throws -> Bool { try decoder(for: key).decodeNil() }

    func decode<T: Decodable & ScalarConstructible>(_ type: T.Type, forKey key: Key) throws -> T {
        try decoder(for: key).decode(type)
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decoder(for: key).decode(type)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try decoder(for: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder(for: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { try decoder(for: YAMLIndexKey.superKey) }

    func superDecoder(forKey key: Key) throws -> any Decoder { try decoder(for: key) }

    private func decoder(for key: any CodingKey) throws -> YAMLNodeValueDecoder {
        guard let node = values[key.stringValue] else {
            throw DecodingError.keyNotFound(
                key, .init(codingPath: codingPath, debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
        }
        return YAMLNodeValueDecoder(node: node, codingPath: codingPath).child(node, key: key)
    }
}
