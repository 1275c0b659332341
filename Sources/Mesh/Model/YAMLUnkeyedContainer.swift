import Yams

/// A YAML sequence seen as an unkeyed container (see `YAMLNodeDecoder`).
struct YAMLUnkeyedContainer: UnkeyedDecodingContainer {
    let elements: [Yams.Node]
    let codingPath: [any CodingKey]
    private(set) var currentIndex = 0

    init(elements: [Yams.Node], codingPath: [any CodingKey]) {
        self.elements = elements
        self.codingPath = codingPath
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    /// Moves past the element only when it is null, as `UnkeyedDecodingContainer` specifies.
    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw atEnd(Any?.self) }
        guard YAMLNodeValueDecoder(node: elements[currentIndex], codingPath: codingPath).decodeNil() else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable & ScalarConstructible>(_ type: T.Type) throws -> T {
        try next(type) { try $0.decode(type) }
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try next(type) { try $0.decode(type) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try next(type) { try $0.container(keyedBy: type) }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next(UnkeyedDecodingContainer.self) { try $0.unkeyedContainer() }
    }

    mutating func superDecoder() throws -> any Decoder {
        try next(Decoder.self) { $0 }
    }

    /// Decodes the current element with `body` and moves past it (only when `body` succeeds).
    private mutating func next<T, Result>(_ type: T.Type, _ body: (YAMLNodeValueDecoder) throws -> Result) throws -> Result {
        guard !isAtEnd else { throw atEnd(type) }
        let key = YAMLIndexKey(index: currentIndex)
        let result = try body(YAMLNodeValueDecoder(node: elements[currentIndex], codingPath: codingPath + [key]))
        currentIndex += 1
        return result
    }

    private func atEnd(_ type: Any.Type) -> DecodingError {
        .valueNotFound(
            type, .init(codingPath: codingPath + [YAMLIndexKey(index: currentIndex)], debugDescription: "Unkeyed container is at end."))
    }
}

/// The coding key of a sequence element (or of `super`), as in `YAMLDecoder`'s paths.
struct YAMLIndexKey: CodingKey {
    let stringValue: String
    let intValue: Int?

    init(index: Int) {
        stringValue = "Index \(index)"
        intValue = index
    }

    init?(stringValue: String) {
        self.stringValue = stringValue
        intValue = nil
    }

    init?(intValue: Int) {
        self.init(index: intValue)
    }

    static let superKey = YAMLIndexKey(stringValue: "super")!
}
