/// An Istio `StringMatch`, compiled: the regex parsed once when the routes are built, not per
/// request. A regex must match the whole value (Envoy's RE2 `safe_regex` semantics).
enum StringMatcher {
    case exact(String)
    case prefix(String)
    case regex(Regex<AnyRegexOutput>)
    /// A pattern that did not compile: fits nothing (and is reported).
    case invalid

    /// `match` compiled; a regex that does not compile becomes `.invalid` and a problem, in
    /// words, about `field` of `label`. With `ignoringCase`, exact and prefix values are kept
    /// lower-cased and values are compared lower-cased.
    init(_ match: VirtualService.StringMatch, ignoringCase: Bool = false, field: String, label: String, problems: inout [String]) {
        switch match {
        case .exact(let value): self = .exact(ignoringCase ? value.lowercased() : value)
        case .prefix(let value): self = .prefix(ignoringCase ? value.lowercased() : value)
        case .regex(let pattern):
            do {
                self = .regex(try Regex(pattern))
            } catch {
                problems.append("\(label): \(field) regex \"\(pattern)\" does not compile (\(error)); the match fits nothing")
                self = .invalid
            }
        }
    }

    func fits(_ value: String, ignoringCase: Bool = false) -> Bool {
        switch self {
        case .exact(let wanted): (ignoringCase ? value.lowercased() : value) == wanted
        case .prefix(let wanted): (ignoringCase ? value.lowercased() : value).hasPrefix(wanted)
        case .regex(let regex): (try? regex.wholeMatch(in: value)) != nil
        case .invalid: false
        }
    }
}
