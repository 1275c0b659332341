/// What a balancer may look at when it chooses a backend for a new connection: who the client
/// is and, when the policy needs it, the first HTTP request the client sent.
public struct RequestAttributes: Hashable, Sendable {
    /// The client's address (its IP only: the port changes with every connection).
    public var clientAddress: IPv4Address?
    /// The first request head on the connection; nil when it was not read or was not HTTP.
    public var httpRequest: HTTPRequestSummary?

    public init(clientAddress: IPv4Address? = nil, httpRequest: HTTPRequestSummary? = nil) {
        self.clientAddress = clientAddress
        self.httpRequest = httpRequest
    }

    /// The text a consistent hash over `key` is computed from; nil when the request does not
    /// carry it (the balancer then picks as if there were no key).
    public func hashText(for key: DestinationRule.HashKey) -> String? {
        switch key {
        case .sourceIP: clientAddress?.description
        case .httpHeaderName(let name): httpRequest?.header(named: name)
        case .httpCookie(let cookie): httpRequest?.cookie(named: cookie.name)
        case .httpQueryParameterName(let name): httpRequest?.queryParameter(named: name)
        }
    }
}

/// The parts of an HTTP/1.x request head the balancers read.
public struct HTTPRequestSummary: Hashable, Sendable {
    public var method: String
    /// The request target as sent ("/path?query").
    public var target: String
    /// Header fields in the order sent, names as sent.
    public var headers: [(name: String, value: String)]

    public init(method: String, target: String, headers: [(name: String, value: String)]) {
        self.method = method
        self.target = target
        self.headers = headers
    }

    /// The first value of the header `name` (compared without case).
    public func header(named name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// The value of cookie `name` from the request's `Cookie` headers (RFC 6265: `a=b; c=d`).
    public func cookie(named name: String) -> String? {
        for field in headers where field.name.lowercased() == "cookie" {
            for pair in field.value.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, parts[0].trimmingSpaces == name else { continue }
                return String(parts[1].trimmingSpaces)
            }
        }
        return nil
    }

    /// The value of query parameter `name` in the target, as sent (not percent-decoded);
    /// a parameter without `=` has the empty value.
    public func queryParameter(named name: String) -> String? {
        Self.queryParameter(named: name, inTarget: target)
    }

    /// The value of query parameter `name` in a request target, as `queryParameter(named:)` reads it.
    static func queryParameter(named name: String, inTarget target: String) -> String? {
        guard let questionMark = target.firstIndex(of: "?") else { return nil }
        var query = target[target.index(after: questionMark)...]
        if let fragment = query.firstIndex(of: "#") { query = query[..<fragment] }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts[0] == name { return parts.count == 2 ? String(parts[1]) : "" }
        }
        return nil
    }

    public static func == (lhs: HTTPRequestSummary, rhs: HTTPRequestSummary) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target
            && lhs.headers.elementsEqual(rhs.headers) { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(method)
        hasher.combine(target)
        for field in headers {
            hasher.combine(field.name)
            hasher.combine(field.value)
        }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return text
    }
}
