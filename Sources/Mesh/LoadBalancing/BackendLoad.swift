/// Connections in progress per backend, for the policies that weigh load (least request and
/// the bounded-load ring). Counts come from the proxy: one up when a connection to the backend
/// opens, one down when it ends.
public struct BackendLoad: Sendable {
    private var active: [ServiceBackend: Int] = [:]
    public private(set) var total = 0

    public init() {}

    public func load(of backend: ServiceBackend) -> Int { active[backend] ?? 0 }

    public mutating func increment(_ backend: ServiceBackend) {
        active[backend, default: 0] += 1
        total += 1
    }

    /// Ignores a backend with nothing in progress, so a stray decrement cannot go negative.
    public mutating func decrement(_ backend: ServiceBackend) {
        guard let count = active[backend] else { return }
        active[backend] = count > 1 ? count - 1 : nil
        total -= 1
    }
}
