import NIOCore

/// A small key-value store that survives restarts: a directory on Linux, a per-node map that
/// outlives a simulated crash in `NetSim`. For snapshots of a few megabytes, not for a database.
///
/// Keys are short names of letters, digits, `-`, `_` and `.`.
public protocol DurableStore: Sendable {
    /// The stored bytes, or `nil` when the key was never written (or was removed).
    func load(_ key: String) -> EventLoopFuture<ByteBuffer?>
    /// Stores `value` atomically: a reader sees the old or the new value, never a mix.
    func save(_ key: String, _ value: ByteBuffer) -> EventLoopFuture<Void>
    func remove(_ key: String) -> EventLoopFuture<Void>
}

extension DurableStore {
    /// Whether `key` is acceptable to every backend.
    public static func isValidKey(_ key: String) -> Bool {
        !key.isEmpty && key.count <= 128 && key != "." && key != ".."
            && key.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A)
                    || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x5F || byte == 0x2E
            }
    }
}
