import NIOCore

/// Service `sessionAffinity: ClientIP`: connections from one client IP keep going to the
/// backend its last connection went to, until `timeout` passes without a new connection
/// (kube-proxy's semantics: each new connection renews the stickiness).
public struct ClientIPAffinity: Sendable {
    public let timeout: TimeAmount
    private var entries: [IPv4Address: (backend: ServiceBackend, expires: NIODeadline)] = [:]
    /// When the table next gets swept of expired entries, so idle clients do not pile up.
    private var nextSweep: NIODeadline?

    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    /// The backend `client` is bound to at `now`, if the binding has not expired.
    public func backend(for client: IPv4Address, at now: NIODeadline) -> ServiceBackend? {
        guard let entry = entries[client], entry.expires > now else { return nil }
        return entry.backend
    }

    /// Binds `client` to `backend` from `now` for `timeout`.
    public mutating func record(_ backend: ServiceBackend, for client: IPv4Address, at now: NIODeadline) {
        entries[client] = (backend, now + timeout)
        if let nextSweep, nextSweep > now { return }
        entries = entries.filter { $0.value.expires > now }
        nextSweep = now + timeout
    }

    /// How many clients are bound (expired bindings not yet swept included).
    public var count: Int { entries.count }
}
