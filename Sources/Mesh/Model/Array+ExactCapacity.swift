extension Array {
    /// This array in storage of (about) its own size. Arrays that grow by appending, as a
    /// decoder builds them, keep up to twice the room they need; the service table keeps
    /// tens of thousands of small decoded arrays for as long as their objects live.
    var withExactCapacity: [Element] {
        guard capacity > count else { return self }
        return Array(unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = buffer.initialize(fromContentsOf: self)
        }
    }
}

extension KeyedDecodingContainer {
    /// An optional list field (absent or null → empty), kept in storage of its own size.
    func decodeList<Element: Decodable>(_ type: [Element].Type, forKey key: Key) throws -> [Element] {
        try decodeIfPresent(type, forKey: key)?.withExactCapacity ?? []
    }
}
