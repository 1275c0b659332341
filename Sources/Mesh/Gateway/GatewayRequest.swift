import NIOHTTP1

/// One request as the gateway's routes read it: the head as the client sent it, with the parts
/// matches and rewrites look at taken apart once.
public struct GatewayRequest {
    /// The gateway port it came to.
    public var port: UInt16
    /// `http` or `https`, by how the port is served.
    public var scheme: String
    public var head: HTTPRequestHead
    /// The `Host` header as sent (Istio's `authority` matches it as is).
    public var authority: String
    /// The host it names: lower-cased, without port or trailing dot.
    public var host: String
    /// The path of the target, without query or fragment; an absolute-form target gives its path.
    public var path: String

    public init(port: UInt16, scheme: String, head: HTTPRequestHead) {
        self.port = port
        self.scheme = scheme
        self.head = head
        authority = head.headers.first(name: "host") ?? ""
        host = HostPattern.requestHost(fromHeader: authority)
        path = Self.path(ofTarget: head.uri)
    }

    /// A request for `target` with this `Host` header, as a client sends a GET.
    public init(port: UInt16, scheme: String = "http", hostHeader: String?, target: String, method: HTTPMethod = .GET) {
        var headers = HTTPHeaders()
        if let hostHeader { headers.add(name: "Host", value: hostHeader) }
        self.init(port: port, scheme: scheme, head: HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: headers))
    }

    /// Every value of header `name`, joined with commas as Envoy matches them; nil when absent.
    func header(_ name: String) -> String? {
        let values = head.headers[name]
        return values.isEmpty ? nil : values.joined(separator: ",")
    }

    func queryParameter(_ name: String) -> String? {
        HTTPRequestSummary.queryParameter(named: name, inTarget: head.uri)
    }

    /// The query of the target with its `?`, or the empty string.
    var query: Substring {
        let target = head.uri
        guard let mark = target.firstIndex(of: "?") else { return "" }
        let rest = target[mark...]
        return rest.firstIndex(of: "#").map { rest[..<$0] } ?? rest
    }

    /// The path of a request target, without query or fragment; an absolute-form target
    /// (`http://host/path`) gives its path.
    static func path(ofTarget target: String) -> String {
        var path = Substring(target)
        // Origin form, the usual one, skips the search for a scheme.
        if !target.hasPrefix("/"), let scheme = path.range(of: "://"), !path[..<scheme.lowerBound].contains("/") {
            let authority = path[scheme.upperBound...]
            path = authority.firstIndex(of: "/").map { authority[$0...] } ?? "/"
        }
        if let end = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = path[..<end] }
        return path.isEmpty ? "/" : String(path)
    }
}
