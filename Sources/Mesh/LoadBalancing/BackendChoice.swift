/// The balancer's answer for one connection attempt.
public struct BackendChoice: Hashable, Sendable {
    public var backend: ServiceBackend
    /// A `Set-Cookie` header value the proxy adds to the first response, when the policy hashes
    /// on a cookie the client did not have yet (so its next requests stick to `backend`).
    public var setCookie: String?

    public init(backend: ServiceBackend, setCookie: String? = nil) {
        self.backend = backend
        self.setCookie = setCookie
    }
}
