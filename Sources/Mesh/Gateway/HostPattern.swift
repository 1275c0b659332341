/// A host as Istio Gateway servers and VirtualServices write it: an exact name, `*` (any host),
/// or `*.suffix` (any name ending in `.suffix`, however many labels come before it, but not
/// `suffix` itself). Names compare as DNS does: case-insensitively, a trailing dot ignored.
public struct HostPattern: Hashable, Sendable, CustomStringConvertible {
    private enum Kind: Hashable, Sendable {
        case any
        /// The suffix with its leading dot: `.example.com`.
        case suffix(String)
        case exact(String)
    }

    private let kind: Kind

    public init(_ text: String) {
        let host = Self.normalized(text)
        if host == "*" {
            kind = .any
        } else if host.hasPrefix("*.") {
            kind = .suffix(String(host.dropFirst()))
        } else {
            kind = .exact(host)
        }
    }

    /// Whether `host`, already `normalized`, is one this pattern names.
    public func matches(_ host: String) -> Bool {
        switch kind {
        case .any: true
        case .suffix(let suffix): host.count > suffix.count && host.hasSuffix(suffix)
        case .exact(let name): host == name
        }
    }

    public var description: String {
        switch kind {
        case .any: "*"
        case .suffix(let suffix): "*" + suffix
        case .exact(let name): name
        }
    }

    /// Lower-cased, without a trailing dot.
    public static func normalized(_ host: String) -> String {
        var host = host.lowercased()
        while host.hasSuffix(".") { host.removeLast() }
        return host
    }

    /// The host named by an HTTP `Host` header (or `:authority`), normalized, without its port:
    /// `Shop.Example.com:8080` → `shop.example.com`, `[::1]:80` → `[::1]`.
    public static func requestHost(fromHeader value: String) -> String {
        var host = value.trimmingSpaces
        if host.hasPrefix("[") {
            if let close = host.firstIndex(of: "]") { host = host[...close] }
        } else if let colon = host.lastIndex(of: ":") {
            host = host[..<colon]
        }
        return normalized(String(host))
    }
}

extension String {
    fileprivate var trimmingSpaces: Substring {
        let start = firstIndex { $0 != " " && $0 != "\t" } ?? endIndex
        let end = lastIndex { $0 != " " && $0 != "\t" }.map { index(after: $0) } ?? start
        return self[start..<max(start, end)]
    }
}
