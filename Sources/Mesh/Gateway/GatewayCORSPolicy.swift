import NIOHTTP1

/// A route's `corsPolicy`, as Envoy's CORS filter applies it: a preflight (`OPTIONS` with
/// `Origin` and `Access-Control-Request-Method`) from an allowed origin is answered by the
/// gateway; an actual request from one gets `Access-Control-Allow-Origin` (and the credentials
/// and exposed headers) on its response. A request from any other origin passes untouched: the
/// browser, seeing no allow header, keeps the response from the page.
struct GatewayCORSPolicy {
    private var origins: [StringMatcher]
    private var allowMethods: String?
    private var allowHeaders: String?
    private var exposeHeaders: String?
    /// In seconds.
    private var maxAge: String?
    private var allowCredentials: Bool

    init(_ policy: VirtualService.CorsPolicy, label: String, problems: inout [String]) {
        origins = (policy.allowOrigins ?? []).map { StringMatcher($0, field: "corsPolicy.allowOrigins", label: label, problems: &problems) }
            + (policy.allowOrigin ?? []).map { .exact($0) }
        func list(_ values: [String]?) -> String? {
            guard let values, !values.isEmpty else { return nil }
            return values.joined(separator: ",")
        }
        allowMethods = list(policy.allowMethods)
        allowHeaders = list(policy.allowHeaders)
        exposeHeaders = list(policy.exposeHeaders)
        allowCredentials = policy.allowCredentials ?? false
        if let text = policy.maxAge {
            do {
                maxAge = String(try IstioDuration.parse(text).nanoseconds / 1_000_000_000)
            } catch {
                problems.append("\(label): corsPolicy.maxAge \"\(text)\" is not a duration (\(error)); not sent")
            }
        }
    }

    /// The allowed origin the request names, if it names one.
    private func allowedOrigin(of request: GatewayRequest) -> String? {
        guard let origin = request.head.headers.first(name: "origin"), origins.contains(where: { $0.fits(origin) }) else {
            return nil
        }
        return origin
    }

    /// The gateway's answer to a preflight from an allowed origin; nil for any other request.
    func preflightReply(to request: GatewayRequest) -> LocalReply? {
        guard request.head.method == .OPTIONS, request.head.headers.contains(name: "access-control-request-method"),
            let origin = allowedOrigin(of: request)
        else { return nil }
        var headers = [LocalReply.Header("Access-Control-Allow-Origin", origin)]
        if let allowMethods { headers.append(.init("Access-Control-Allow-Methods", allowMethods)) }
        if let allowHeaders { headers.append(.init("Access-Control-Allow-Headers", allowHeaders)) }
        if let maxAge { headers.append(.init("Access-Control-Max-Age", maxAge)) }
        if allowCredentials { headers.append(.init("Access-Control-Allow-Credentials", "true")) }
        return LocalReply(status: .ok, reason: "CORS preflight from \(origin) allowed", headers: headers, body: "")
    }

    /// What an actual request's response gets: nothing unless its origin is allowed.
    func responseEdits(for request: GatewayRequest) -> [HTTPHeaderEdit] {
        guard let origin = allowedOrigin(of: request) else { return [] }
        var edits = [HTTPHeaderEdit.set("Access-Control-Allow-Origin", origin)]
        if allowCredentials { edits.append(.set("Access-Control-Allow-Credentials", "true")) }
        if let exposeHeaders { edits.append(.set("Access-Control-Expose-Headers", exposeHeaders)) }
        return edits
    }
}
