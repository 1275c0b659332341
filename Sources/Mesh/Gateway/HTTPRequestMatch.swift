/// One `match` of a VirtualService HTTP route, compiled: every condition set must hold.
struct HTTPRequestMatch {
    /// A header's or query parameter's condition.
    enum ValueCondition {
        case present
        case value(StringMatcher)

        func fits(_ value: String?) -> Bool {
            guard let value else { return false }
            switch self {
            case .present: return true
            case .value(let matcher): return matcher.fits(value)
            }
        }
    }

    var uri: StringMatcher?
    var ignoreUriCase = false
    var scheme: StringMatcher?
    var method: StringMatcher?
    var authority: StringMatcher?
    var headers: [(name: String, condition: ValueCondition)] = []
    var withoutHeaders: [(name: String, condition: ValueCondition)] = []
    var queryParams: [(name: String, condition: ValueCondition)] = []
    var port: Int?
    /// A condition the gateway cannot check was written: fits no request, so a guarded route
    /// never takes requests meant for the routes after it.
    var unfit = false

    /// A match that fits every request (a route without matches).
    static var everything: HTTPRequestMatch { HTTPRequestMatch() }

    private init() {}

    init(_ match: VirtualService.HTTPMatch, label: String, problems: inout [String]) {
        if !match.unsupportedFields.isEmpty {
            problems.append("\(label): \(match.unsupportedFields.joined(separator: ", ")) not implemented; the match fits no request")
            unfit = true
        }
        ignoreUriCase = match.ignoreUriCase
        uri = match.uri.map { StringMatcher($0, ignoringCase: match.ignoreUriCase, field: "uri", label: label, problems: &problems) }
        scheme = match.scheme.map { StringMatcher($0, field: "scheme", label: label, problems: &problems) }
        method = match.method.map { StringMatcher($0, field: "method", label: label, problems: &problems) }
        authority = match.authority.map { StringMatcher($0, field: "authority", label: label, problems: &problems) }
        func conditions(_ values: [String: VirtualService.ValueMatch], _ field: String) -> [(name: String, condition: ValueCondition)] {
            values.sorted { $0.key < $1.key }.map { name, value in
                switch value {
                case .present: (name, .present)
                case .value(let match): (name, .value(StringMatcher(match, field: "\(field).\(name)", label: label, problems: &problems)))
                }
            }
        }
        headers = conditions(match.headers, "headers")
        withoutHeaders = conditions(match.withoutHeaders, "withoutHeaders")
        queryParams = conditions(match.queryParams, "queryParams")
        port = match.port
    }

    func fits(_ request: GatewayRequest) -> Bool {
        guard !unfit else { return false }
        if let port, port != Int(request.port) { return false }
        if let uri, !uri.fits(request.path, ignoringCase: ignoreUriCase) { return false }
        if let scheme, !scheme.fits(request.scheme) { return false }
        if let method, !method.fits(request.head.method.rawValue) { return false }
        if let authority, !authority.fits(request.authority) { return false }
        for (name, condition) in headers where !condition.fits(request.header(name)) { return false }
        for (name, condition) in withoutHeaders where condition.fits(request.header(name)) { return false }
        for (name, condition) in queryParams where !condition.fits(request.queryParameter(name)) { return false }
        return true
    }

    /// The prefix of the path this match took, which a `rewrite.uri` replaces: the prefix of a
    /// prefix match, the whole path of an exact or regex one, `/` when no URI was matched (Istio
    /// then matches on prefix `/`).
    func matchedPrefix(of path: String) -> Substring {
        switch uri {
        case .prefix(let prefix): path.prefix(prefix.count)
        case .exact, .regex, .invalid: Substring(path)
        case nil: path.prefix(1)
        }
    }
}
