/// Why the proxy could not carry a connection, in words that point at the fix.
public enum ServiceProxyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A connection reached the proxy's listener without an intercepted destination.
    case notIntercepted(client: String)
    /// The destination is not (or no longer) a service port the proxy carries.
    case unknownService(ProxiedAddress)
    /// The service has no ready backend for this port.
    case noBackends(ProxyRoute)
    /// Every backend tried refused or did not answer.
    case backendsUnreachable(ProxyRoute, failures: [String])

    public var description: String {
        switch self {
        case .notIntercepted(let client):
            "connection from \(client) reached the proxy listener directly; dial a service's cluster IP instead"
        case .unknownService(let address):
            "no service owns \(address); check the service exists and has this cluster IP and port"
        case .noBackends(let route):
            route.localOnly
                ? "\(route) has internalTrafficPolicy Local and no ready endpoint on this node"
                : "\(route) has no ready endpoint; check the service's selector and its pods' readiness"
        case .backendsUnreachable(let route, let failures):
            "\(route): no backend could be reached (\(failures.joined(separator: "; ")))"
        }
    }
}
