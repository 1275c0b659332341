/// One place a proxied connection can go: a backend address and port of a service, and the
/// node it runs on (which decides whether the tunnel carries it).
///
/// Ordered by address then port, so every list of backends the balancers see (and every ring
/// built from them) is the same whatever order the endpoints arrived in.
public struct ServiceBackend: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var address: IPv4Address
    public var port: UInt16
    /// The Kubernetes node the backend runs on; nil when the endpoint does not say.
    public var nodeName: String?

    public init(address: IPv4Address, port: UInt16, nodeName: String? = nil) {
        self.address = address
        self.port = port
        self.nodeName = nodeName
    }

    public static func < (lhs: ServiceBackend, rhs: ServiceBackend) -> Bool {
        (lhs.address, lhs.port, lhs.nodeName ?? "") < (rhs.address, rhs.port, rhs.nodeName ?? "")
    }

    /// "10.0.0.5:8080", the identity used for hashing and in log lines.
    public var description: String { "\(address):\(port)" }
}
