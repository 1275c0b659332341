import Yams

/// Decodes a `Decodable` value from a composed YAML node, as Yams' `YAMLDecoder` does from text,
/// but without tag resolution.
///
/// `YAMLDecoder` composes with a resolver whose rules are `NSRegularExpression`s and matches one
/// against every mapping key; that pulls ICU's regular-expression engine and its tables into a
/// long-running agent that parses manifests once. Compose with `Resolver.basic` instead and
/// decode here: scalars are typed by the type being decoded, through Yams' own
/// `ScalarConstructible` parsers (so `8080`, `0x1F`, `yes`, `~` read exactly as they did), and
/// errors are the `DecodingError`s `YAMLDecoder` throws. Merge keys (`<<`) are honoured the way
/// Yams honours them: a plain `<<` key's mapping (or sequence of mappings) supplies the keys the
/// mapping itself does not set.
enum YAMLNodeDecoder {
    static func decode<T: Decodable>(_ type: T.Type, from node: Yams.Node) throws -> T {
        try YAMLNodeValueDecoder(node: node, codingPath: []).decode(type)
    }

    /// Scalars that read as null, whatever their style (as in `YAMLDecoder`).
    static let nullScalars: Set<String> = ["", "~", "null", "Null", "NULL"]

    static func typeMismatch(_ expected: Any.Type, at path: [any CodingKey], found node: Yams.Node) -> DecodingError {
        let found = switch node {
        case .scalar: "Scalar"
        case .mapping: "Mapping"
        case .sequence: "Sequence"
        }
        return .typeMismatch(
            expected, .init(codingPath: path, debugDescription: "Expected to decode \(expected) but found \(found) instead."))
    }
}

/// The `Decoder` (and single-value container) for one node.
struct YAMLNodeValueDecoder: Decoder, SingleValueDecodingContainer {
    let node: Yams.Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let mapping) = node else {
            throw YAMLNodeDecoder.typeMismatch(Yams.Node.Mapping.self, at: codingPath, found: node)
        }
        return KeyedDecodingContainer(YAMLKeyedContainer<Key>(mapping: mapping, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .sequence(let sequence) = node else {
            throw YAMLNodeDecoder.typeMismatch(Yams.Node.Sequence.self, at: codingPath, found: node)
        }
        return YAMLUnkeyedContainer(elements: Array(sequence), codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        return YAMLNodeDecoder.nullScalars.contains(scalar.string)
    }

    /// A scalar type asked for by name (`decode(Int.self)`): unparsable text is a type mismatch.
    func decode<T: Decodable & ScalarConstructible>(_ type: T.Type) throws -> T {
        guard case .scalar(let scalar) = node else { throw YAMLNodeDecoder.typeMismatch(type, at: codingPath, found: node) }
        guard let value = T.construct(from: scalar) else {
            throw YAMLNodeDecoder.typeMismatch(type, at: codingPath, found: node)
        }
        return value
    }

    /// Any other type; a scalar type reached generically (an array's elements) whose text does
    /// not parse is reported as a missing value, as `YAMLDecoder` reports it.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard let constructible = type as? any ScalarConstructible.Type else { return try T(from: self) }
        guard case .scalar(let scalar) = node else { throw YAMLNodeDecoder.typeMismatch(type, at: codingPath, found: node) }
        guard let value = constructible.construct(from: scalar) as? T else {
            throw DecodingError.valueNotFound(
                type, .init(codingPath: codingPath, debugDescription: "Expected \(type) value but found \(scalar) instead."))
        }
        return value
    }

    func child(_ node: Yams.Node, key: any CodingKey) -> YAMLNodeValueDecoder {
        YAMLNodeValueDecoder(node: node, codingPath: codingPath + [key])
    }
}
