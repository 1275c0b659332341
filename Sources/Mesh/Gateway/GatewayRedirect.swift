import NIOHTTP1

/// A route's `redirect`: the request's URL with the parts the redirect names replaced, answered
/// with its status (301 unless `redirectCode` says otherwise). The query is kept unless the new
/// `uri` carries one; a changed scheme drops the request's port unless one is given.
struct GatewayRedirect {
    private var redirect: VirtualService.HTTPRedirect
    private var status: HTTPResponseStatus

    init(_ redirect: VirtualService.HTTPRedirect, label: String, problems: inout [String]) {
        self.redirect = redirect
        let code = redirect.redirectCode ?? 301
        if (300..<400).contains(code) {
            status = HTTPResponseStatus(statusCode: code)
        } else {
            problems.append("\(label): redirect.redirectCode \(code) is not a redirect status; 301 is sent")
            status = .movedPermanently
        }
    }

    func reply(to request: GatewayRequest) -> LocalReply {
        let scheme = redirect.scheme ?? request.scheme
        var authority = redirect.authority ?? request.authority
        let hostOnly = Self.withoutPort(authority)
        if let port = redirect.port {
            authority = "\(hostOnly):\(port)"
        } else if redirect.derivePort == "FROM_REQUEST_PORT" {
            authority = "\(hostOnly):\(request.port)"
        } else if redirect.derivePort == "FROM_PROTOCOL_DEFAULT" || scheme != request.scheme {
            authority = String(hostOnly)
        }
        let target: String
        if let uri = redirect.uri {
            target = uri.contains("?") ? uri : uri + request.query
        } else {
            target = request.path + request.query
        }
        return LocalReply(redirectTo: "\(scheme)://\(authority)\(target)", status: status)
    }

    /// A `Host` value without its port (`[::1]:80` → `[::1]`), as sent otherwise.
    static func withoutPort(_ authority: String) -> Substring {
        if authority.hasPrefix("[") {
            return authority.firstIndex(of: "]").map { authority[...$0] } ?? Substring(authority)
        }
        return authority.lastIndex(of: ":").map { authority[..<$0] } ?? Substring(authority)
    }
}
