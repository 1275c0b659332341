/// What happened to one object in one applied `TableChange`.
public struct TableObjectChange: Hashable, Sendable, Comparable, CustomStringConvertible {
    public enum Action: String, Hashable, Sendable {
        case added, updated, removed
    }

    public var kind: TableObjectKind
    public var key: ObjectKey
    public var action: Action

    public init(kind: TableObjectKind, key: ObjectKey, action: Action) {
        self.kind = kind
        self.key = key
        self.action = action
    }

    /// Kind, then key: a key appears at most once per kind in a summary.
    public static func < (lhs: TableObjectChange, rhs: TableObjectChange) -> Bool {
        if lhs.kind != rhs.kind { return lhs.kind < rhs.kind }
        return lhs.key < rhs.key
    }

    public var description: String { "\(action.rawValue) \(kind) \(key)" }
}
