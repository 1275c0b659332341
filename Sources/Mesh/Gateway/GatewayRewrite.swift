import NIOHTTP1

/// A route's `rewrite`, applied to the request on its way to the backend: `uri` replaces the
/// prefix the match took (the whole path after an exact or regex match; Envoy's
/// `prefix_rewrite`), `uriRegexRewrite` replaces every match of its pattern (`\1`... its groups),
/// `authority` replaces the `Host` header. The query is kept.
struct GatewayRewrite {
    private var uri: String?
    private var regex: (pattern: Regex<AnyRegexOutput>, template: String)?
    private var authority: String?

    init(_ rewrite: VirtualService.HTTPRewrite, label: String, problems: inout [String]) {
        uri = rewrite.uri
        authority = rewrite.authority
        if let regexRewrite = rewrite.uriRegexRewrite {
            do {
                regex = (try Regex(regexRewrite.match), regexRewrite.rewrite)
            } catch {
                problems.append("\(label): rewrite.uriRegexRewrite.match \"\(regexRewrite.match)\" does not compile (\(error)); the path is not rewritten")
            }
        }
        if uri != nil && rewrite.uriRegexRewrite != nil {
            problems.append("\(label): rewrite has both uri and uriRegexRewrite; uri is applied")
        }
    }

    /// `request`'s head rewritten, where the route was chosen by `match`.
    func apply(to head: inout HTTPRequestHead, of request: GatewayRequest, matchedBy match: HTTPRequestMatch) {
        if let uri {
            let prefix = match.matchedPrefix(of: request.path)
            head.uri = uri + request.path.dropFirst(prefix.count) + request.query
        } else if let regex {
            head.uri = Self.substitute(regex.pattern, in: request.path, with: regex.template) + request.query
        }
        if let authority { head.headers.replaceOrAdd(name: "Host", value: authority) }
    }

    /// `path` with every match of `pattern` replaced by `template`, `\N` standing for group N.
    static func substitute(_ pattern: Regex<AnyRegexOutput>, in path: String, with template: String) -> String {
        path.replacing(pattern) { match -> String in
            var result = ""
            var characters = template.makeIterator()
            while let character = characters.next() {
                guard character == "\\", let next = characters.next() else {
                    result.append(character)
                    continue
                }
                if let group = next.wholeNumberValue, group < match.output.count {
                    result += match.output[group].substring.map(String.init) ?? ""
                } else {
                    result.append(next)
                }
            }
            return result
        }
    }
}
