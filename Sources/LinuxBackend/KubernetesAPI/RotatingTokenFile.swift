import Foundation

/// A bearer token kept in a file that is rewritten while the agent runs: the kubelet replaces a
/// pod's projected service-account token before it expires, and a kubeconfig's `tokenFile`
/// may be refreshed by a helper. Read again once `refreshInterval` has passed since the last
/// read (client-go re-reads every minute); a read that fails or finds the file empty keeps the
/// last good token, so a rewrite caught half-way costs nothing.
///
/// Called from the agent's event loop before each request; the read is a small file, at most
/// once a minute.
public final class RotatingTokenFile: @unchecked Sendable {
    public let path: String
    public let refreshInterval: TimeInterval
    private let clock: @Sendable () -> Date
    private let lock = NSLock()
    private var token: String
    private var readAt: Date

    /// `initial` is the token read at start-up (its read errors are reported there).
    public init(path: String, initial: String, refreshInterval: TimeInterval = 60, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.path = path
        self.refreshInterval = refreshInterval
        self.clock = clock
        self.token = initial
        self.readAt = clock()
    }

    /// The token to send now.
    public func current() -> String {
        lock.lock()
        defer { lock.unlock() }
        let now = clock()
        guard now.timeIntervalSince(readAt) >= refreshInterval else { return token }
        readAt = now
        if let data = FileManager.default.contents(atPath: path),
           let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty
        {
            token = text
        }
        return token
    }
}
