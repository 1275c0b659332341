/// Why a stored service-table snapshot was not used. The table starts empty instead and
/// fills from the API server or manifests; nothing else is lost.
public enum ServiceTableSnapshotError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The store could not be read.
    case unreadable(key: String, reason: String)
    /// The bytes are not a snapshot this build can read (truncated, overwritten, not JSON).
    case corrupt(key: String, reason: String)
    /// Written by a build with another snapshot format.
    case unsupportedVersion(key: String, found: Int, supported: Int)

    public var description: String {
        switch self {
        case .unreadable(let key, let reason):
            "service-table snapshot \"\(key)\" could not be read (\(reason)); starting without it"
        case .corrupt(let key, let reason):
            "service-table snapshot \"\(key)\" is corrupt and was ignored (\(reason)); it is rewritten on the next change"
        case .unsupportedVersion(let key, let found, let supported):
            "service-table snapshot \"\(key)\" has format version \(found), this build reads version \(supported); ignored, it is rewritten on the next change"
        }
    }
}
