/// A service as an agent's table holds it, for the invariants: its key, cluster IP and the
/// backends ("ip:port", one per port) it may send to.
public struct ServiceEndpointView: Sendable, Hashable {
    /// "namespace/name".
    public var key: String
    public var clusterIP: String?
    public var backends: Set<String>

    public init(key: String, clusterIP: String?, backends: Set<String>) {
        self.key = key
        self.clusterIP = clusterIP
        self.backends = backends
    }
}
