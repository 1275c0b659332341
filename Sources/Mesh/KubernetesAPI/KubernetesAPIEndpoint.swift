/// Where an API server is: scheme, host, port and an optional path prefix (a proxy may serve
/// the API below one), written as a URL: `http://127.0.0.1:10550`, `https://10.0.0.1:6443/k8s`.
public struct KubernetesAPIEndpoint: Hashable, Sendable, CustomStringConvertible {
    public enum Scheme: String, Hashable, Sendable {
        case http, https
        var defaultPort: UInt16 { self == .http ? 80 : 443 }
    }

    public var scheme: Scheme
    public var host: String
    public var port: UInt16
    /// Prefix of every request path: empty, or starting with `/` and without a trailing one.
    public var basePath: String

    public init(scheme: Scheme = .http, host: String, port: UInt16, basePath: String = "") {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = Self.normalized(basePath)
    }

    /// KubeEdge's metaServer on the edge node, EdgeMesh's default in edge mode.
    public static let metaServer = KubernetesAPIEndpoint(host: "127.0.0.1", port: 10550)

    /// Parses `scheme://host[:port][/path]`; nil when the scheme is not http(s) or the port is invalid.
    /// IPv6 literals are not accepted (the mesh's host addressing is IPv4).
    public init?(url: String) {
        guard let separator = url.range(of: "://"), let scheme = Scheme(rawValue: url[..<separator.lowerBound].lowercased())
        else { return nil }
        let rest = url[separator.upperBound...]
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        var host = Substring(authority)
        var port = scheme.defaultPort
        if let colon = authority.lastIndex(of: ":") {
            guard let parsed = UInt16(authority[authority.index(after: colon)...]), parsed > 0 else { return nil }
            host = authority[..<colon]
            port = parsed
        }
        guard !host.isEmpty else { return nil }
        self.init(scheme: scheme, host: String(host), port: port, basePath: String(rest[slash...]))
    }

    public var description: String { "\(scheme.rawValue)://\(host):\(port)\(basePath)" }

    private static func normalized(_ path: String) -> String {
        var path = path
        while path.hasSuffix("/") { path.removeLast() }
        if !path.isEmpty, !path.hasPrefix("/") { path = "/" + path }
        return path
    }
}
