import Yams

extension Yams.Node {
    var isNull: Bool {
        if case .scalar = self { return tag == Tag(.null) }
        return false
    }

    /// How the node looks, for "expected X, found Y".
    var summary: String {
        switch self {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let scalar): return isNull ? "no value" : "\"\(scalar.string)\""
        }
    }
}
