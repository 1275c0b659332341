/// What `ServiceTable.restore(from:)` found in the durable store.
public enum ServiceTableRestoreOutcome: Hashable, Sendable, CustomStringConvertible {
    /// The snapshot was loaded into the table.
    case restored(objectCount: Int, savedRevision: UInt64)
    /// No snapshot was stored (a first start).
    case absent
    /// A snapshot was there but could not be used; the table was left as it was.
    case ignored(ServiceTableSnapshotError)

    public var description: String {
        switch self {
        case .restored(let count, let revision): "restored \(count) objects from the snapshot of revision \(revision)"
        case .absent: "no service-table snapshot stored"
        case .ignored(let error): error.description
        }
    }
}
