extension String {
    /// The string with each character that `replacements` names replaced by its text: the
    /// escaping of a text format (Prometheus label values, HTML) in one pass.
    public func escaping(_ replacements: [Character: String]) -> String {
        var escaped = ""
        escaped.reserveCapacity(utf8.count)
        for character in self {
            if let replacement = replacements[character] { escaped += replacement } else { escaped.append(character) }
        }
        return escaped
    }
}
