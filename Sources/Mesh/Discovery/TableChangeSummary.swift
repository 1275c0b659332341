/// What one applied `TableChange` changed, as the change feed reports it.
public struct TableChangeSummary: Hashable, Sendable {
    /// The table's revision after the change.
    public var revision: UInt64
    /// Every object added, updated or removed, sorted by kind then key.
    public var changes: [TableObjectChange]
    /// Services whose definition or endpoint list may have changed (a slice, an Endpoints
    /// object or the service itself changed), sorted: what DNS and the proxy re-read.
    public var affectedServices: [ObjectKey]

    public init(revision: UInt64, changes: [TableObjectChange], affectedServices: [ObjectKey]) {
        self.revision = revision
        self.changes = changes
        self.affectedServices = affectedServices
    }
}
