/// A service as an agent's table holds it, for the invariants: its key, cluster IP, the
/// backends ("ip:port", one per port) it may send to, and the addresses its name resolves to.
public struct ServiceEndpointView: Sendable, Hashable {
    /// "namespace/name".
    public var key: String
    public var clusterIP: String?
    public var backends: Set<String>
    /// What an A lookup of the service's name may answer: its cluster IPs, or a headless
    /// service's endpoint IPs; nil for an ExternalName service (a CNAME, not addresses).
    public var nameAddresses: Set<String>?

    /// `nameAddresses` defaults to the cluster IP.
    public init(key: String, clusterIP: String?, backends: Set<String>) {
        self.init(key: key, clusterIP: clusterIP, backends: backends, nameAddresses: clusterIP.map { [$0] } ?? [])
    }

    public init(key: String, clusterIP: String?, backends: Set<String>, nameAddresses: Set<String>?) {
        self.key = key
        self.clusterIP = clusterIP
        self.backends = backends
        self.nameAddresses = nameAddresses
    }
}
