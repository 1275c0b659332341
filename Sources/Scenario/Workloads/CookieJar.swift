import Foundation
import Mesh
import NIOCore

/// The cookies an HTTP client keeps between requests, as a browser does for one site: what a
/// response's `Set-Cookie` sets goes back on later requests until its `Max-Age` runs out. This
/// is what makes a proxy's generated stickiness cookie (a DestinationRule's `httpCookie` with a
/// `ttl`) pin a client to one backend.
///
/// One jar serves one client workload, which talks to one site: `Domain` and `Path` are not
/// matched, and `Expires` (a date) is ignored, since proxies that generate cookies write `Max-Age`.
/// Confined to the host's event loop; expiry uses the host's clock.
public final class CookieJar: @unchecked Sendable {
    private struct Cookie {
        var name: String
        var value: String
        /// Nil for a session cookie, kept for the workload's life.
        var expires: NIODeadline?
    }

    /// In the order first set, so the `Cookie` header is the same on every run.
    private var cookies: [Cookie] = []

    public init() {}

    /// Takes in one `Set-Cookie` header value received at `now`. A value that is not
    /// `name=value` is ignored, as browsers ignore it; `Max-Age` of zero or less deletes.
    public func store(setCookie header: String, at now: NIODeadline) {
        let parts = header.split(separator: ";", omittingEmptySubsequences: false)
        guard let pair = parts.first, let equals = pair.firstIndex(of: "=") else { return }
        let name = pair[..<equals].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else { return }
        var cookie = Cookie(name: name, value: pair[pair.index(after: equals)...].trimmingCharacters(in: .whitespaces))
        for attribute in parts.dropFirst() {
            let parts = attribute.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == "max-age",
                let seconds = Int64(parts[1].trimmingCharacters(in: .whitespaces))
            else { continue }
            cookie.expires = now + .seconds(seconds)
        }
        cookies.removeAll { $0.name == cookie.name }
        if let expires = cookie.expires, expires <= now { return }
        cookies.append(cookie)
    }

    /// The `Cookie` header value to send at `now` (`a=1; b=2`), nil when no cookie is live.
    /// Expired cookies are dropped.
    public func header(at now: NIODeadline) -> String? {
        cookies.removeAll { cookie in cookie.expires.map { $0 <= now } ?? false }
        guard !cookies.isEmpty else { return nil }
        return cookies.map { "\($0.name)=\($0.value)" }.joined(separator: "; ")
    }
}
