/// An Istio `VirtualService`: HTTP and TCP routing rules for a set of hosts, bound to mesh
/// traffic or to Gateways. HTTP routes are modelled with their matches and what a gateway user
/// writes (redirects, direct responses, rewrites, timeouts, retries, header edits, CORS); TCP
/// routes match on port. Every other field present is named in `unsupportedFields` of its
/// level, so the gateway can say what it does not do instead of silently doing less.
public struct VirtualService: Decodable, Hashable, Sendable {
    public var metadata: ObjectMeta
    public var spec: Spec

    public init(metadata: ObjectMeta, spec: Spec) {
        self.metadata = metadata
        self.spec = spec
    }

    public var key: ObjectKey { metadata.key }

    public struct Spec: Decodable, Hashable, Sendable {
        public var hosts: [String]
        /// Gateway names (`ns/name` or `name`); empty means mesh traffic only.
        public var gateways: [String]
        public var http: [HTTPRoute]
        /// Routes for TLS connections passed through by server name (SNI), not terminated.
        public var tls: [TLSRoute]
        public var tcp: [TCPRoute]
        /// Fields of the spec present but not modelled (`exportTo`, ...), in document order.
        public var unsupportedFields: [String] = []

        public init(hosts: [String], gateways: [String] = [], http: [HTTPRoute] = [], tls: [TLSRoute] = [], tcp: [TCPRoute] = []) {
            self.hosts = hosts
            self.gateways = gateways
            self.http = http
            self.tls = tls
            self.tcp = tcp
        }

        enum CodingKeys: String, CodingKey { case hosts, gateways, http, tls, tcp }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            hosts = try container.decodeList([String].self, forKey: .hosts)
            gateways = try container.decodeList([String].self, forKey: .gateways)
            http = try container.decodeList([HTTPRoute].self, forKey: .http)
            tls = try container.decodeList([TLSRoute].self, forKey: .tls)
            tcp = try container.decodeList([TCPRoute].self, forKey: .tcp)
            unsupportedFields = try UnsupportedFields.named(in: decoder, besides: ["hosts", "gateways", "http", "tls", "tcp"])
        }
    }

    public struct HTTPRoute: Decodable, Hashable, Sendable {
        public var name: String?
        /// Any one match selects the route; no matches means every request.
        public var match: [HTTPMatch]
        public var route: [RouteDestination]
        /// Answers with a redirect instead of forwarding.
        public var redirect: HTTPRedirect?
        /// Answers with a fixed response instead of forwarding.
        public var directResponse: HTTPDirectResponse?
        public var rewrite: HTTPRewrite?
        /// The longest the whole exchange may take (an Istio duration); unset means no limit.
        public var timeout: String?
        public var retries: HTTPRetry?
        public var headers: HeaderEdits?
        public var corsPolicy: CorsPolicy?
        /// Where a copy of each forwarded request goes too, its answer thrown away (shadowing).
        public var mirror: Destination?
        /// The share of requests mirrored, in percent (`mirrorPercentage.value`); unset is all.
        public var mirrorPercentage: Double?
        /// Fields present but not implemented (`fault`, `mirrors`, ...).
        public var unsupportedFields: [String] = []

        public init(
            name: String? = nil, match: [HTTPMatch] = [], route: [RouteDestination], redirect: HTTPRedirect? = nil,
            directResponse: HTTPDirectResponse? = nil, rewrite: HTTPRewrite? = nil, timeout: String? = nil,
            retries: HTTPRetry? = nil, headers: HeaderEdits? = nil, corsPolicy: CorsPolicy? = nil
        ) {
            self.name = name
            self.match = match
            self.route = route
            self.redirect = redirect
            self.directResponse = directResponse
            self.rewrite = rewrite
            self.timeout = timeout
            self.retries = retries
            self.headers = headers
            self.corsPolicy = corsPolicy
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name, match, route, redirect, directResponse, rewrite, timeout, retries, headers, corsPolicy, mirror, mirrorPercentage
        }

        private struct Percent: Decodable { var value: Double? }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            match = try container.decodeList([HTTPMatch].self, forKey: .match)
            route = try container.decodeList([RouteDestination].self, forKey: .route)
            redirect = try container.decodeIfPresent(HTTPRedirect.self, forKey: .redirect)
            directResponse = try container.decodeIfPresent(HTTPDirectResponse.self, forKey: .directResponse)
            rewrite = try container.decodeIfPresent(HTTPRewrite.self, forKey: .rewrite)
            timeout = try container.decodeIfPresent(String.self, forKey: .timeout)
            retries = try container.decodeIfPresent(HTTPRetry.self, forKey: .retries)
            headers = try container.decodeIfPresent(HeaderEdits.self, forKey: .headers)
            corsPolicy = try container.decodeIfPresent(CorsPolicy.self, forKey: .corsPolicy)
            mirror = try container.decodeIfPresent(Destination.self, forKey: .mirror)
            mirrorPercentage = try container.decodeIfPresent(Percent.self, forKey: .mirrorPercentage)?.value
            unsupportedFields = try UnsupportedFields.named(in: decoder, besides: Set(CodingKeys.allCases.map(\.rawValue)))
        }
    }

    /// The conditions of one HTTP match; all that are set must hold.
    public struct HTTPMatch: Decodable, Hashable, Sendable {
        public var name: String?
        public var uri: StringMatch?
        public var scheme: StringMatch?
        public var method: StringMatch?
        /// The `Host` header (HTTP/1.1) or `:authority` (HTTP/2), without its port.
        public var authority: StringMatch?
        /// By lower-case header name.
        public var headers: [String: ValueMatch]
        /// Headers that must not match (a header absent does not match).
        public var withoutHeaders: [String: ValueMatch]
        public var queryParams: [String: ValueMatch]
        /// The gateway port the request came to.
        public var port: Int?
        /// Whether `uri` ignores case (exact and prefix).
        public var ignoreUriCase: Bool
        /// Conditions present but not implemented (`sourceLabels`, `gateways`, ...).
        public var unsupportedFields: [String] = []

        public init(
            uri: StringMatch?, scheme: StringMatch? = nil, method: StringMatch? = nil, authority: StringMatch? = nil,
            headers: [String: ValueMatch] = [:], withoutHeaders: [String: ValueMatch] = [:],
            queryParams: [String: ValueMatch] = [:], port: Int? = nil, ignoreUriCase: Bool = false, name: String? = nil
        ) {
            self.uri = uri
            self.scheme = scheme
            self.method = method
            self.authority = authority
            self.headers = headers
            self.withoutHeaders = withoutHeaders
            self.queryParams = queryParams
            self.port = port
            self.ignoreUriCase = ignoreUriCase
            self.name = name
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name, uri, scheme, method, authority, headers, withoutHeaders, queryParams, port, ignoreUriCase
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            uri = try container.decodeIfPresent(StringMatch.self, forKey: .uri)
            scheme = try container.decodeIfPresent(StringMatch.self, forKey: .scheme)
            method = try container.decodeIfPresent(StringMatch.self, forKey: .method)
            authority = try container.decodeIfPresent(StringMatch.self, forKey: .authority)
            headers = try container.decodeIfPresent([String: ValueMatch].self, forKey: .headers) ?? [:]
            withoutHeaders = try container.decodeIfPresent([String: ValueMatch].self, forKey: .withoutHeaders) ?? [:]
            queryParams = try container.decodeIfPresent([String: ValueMatch].self, forKey: .queryParams) ?? [:]
            port = try container.decodeIfPresent(Int.self, forKey: .port)
            ignoreUriCase = try container.decodeIfPresent(Bool.self, forKey: .ignoreUriCase) ?? false
            unsupportedFields = try UnsupportedFields.named(in: decoder, besides: Set(CodingKeys.allCases.map(\.rawValue)))
        }
    }

    /// A header's or query parameter's condition: `{}` asks only that it be present.
    public enum ValueMatch: Decodable, Hashable, Sendable {
        case present
        case value(StringMatch)

        public init(from decoder: any Decoder) throws {
            if try UnsupportedFields.named(in: decoder, besides: []).isEmpty {
                self = .present
            } else {
                self = .value(try StringMatch(from: decoder))
            }
        }
    }

    /// Istio's `StringMatch` one-of.
    public enum StringMatch: Decodable, Hashable, Sendable {
        case exact(String)
        case prefix(String)
        case regex(String)

        enum CodingKeys: String, CodingKey { case exact, prefix, regex }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            var found: [StringMatch] = []
            if let value = try container.decodeIfPresent(String.self, forKey: .exact) { found.append(.exact(value)) }
            if let value = try container.decodeIfPresent(String.self, forKey: .prefix) { found.append(.prefix(value)) }
            if let value = try container.decodeIfPresent(String.self, forKey: .regex) { found.append(.regex(value)) }
            guard found.count == 1, let match = found.first else {
                throw DecodingError.dataCorrupted(DecodingError.Context(
                    codingPath: decoder.codingPath,
                    debugDescription: "a string match needs exactly one of exact, prefix or regex"))
            }
            self = match
        }
    }

    /// A `tls` route: connections whose ClientHello names a host of a match go to `route`.
    public struct TLSRoute: Decodable, Hashable, Sendable {
        public var match: [TLSMatch]
        public var route: [RouteDestination]

        public init(match: [TLSMatch], route: [RouteDestination]) {
            self.match = match
            self.route = route
        }

        enum CodingKeys: String, CodingKey { case match, route }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            match = try container.decodeList([TLSMatch].self, forKey: .match)
            route = try container.decodeList([RouteDestination].self, forKey: .route)
        }
    }

    public struct TLSMatch: Decodable, Hashable, Sendable {
        /// Server names (`*.example.com` allowed), compared with the ClientHello's SNI.
        public var sniHosts: [String]
        public var port: Int?
        /// Conditions present but not implemented (`destinationSubnets`, `sourceLabels`, ...).
        public var unsupportedFields: [String] = []

        public init(sniHosts: [String], port: Int? = nil) {
            self.sniHosts = sniHosts
            self.port = port
        }

        enum CodingKeys: String, CodingKey { case sniHosts, port }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            sniHosts = try container.decodeList([String].self, forKey: .sniHosts)
            port = try container.decodeIfPresent(Int.self, forKey: .port)
            unsupportedFields = try UnsupportedFields.named(in: decoder, besides: ["sniHosts", "port"])
        }
    }

    public struct TCPRoute: Decodable, Hashable, Sendable {
        public var match: [L4Match]
        public var route: [RouteDestination]

        public init(match: [L4Match] = [], route: [RouteDestination]) {
            self.match = match
            self.route = route
        }

        enum CodingKeys: String, CodingKey { case match, route }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            match = try container.decodeIfPresent([L4Match].self, forKey: .match) ?? []
            route = try container.decodeList([RouteDestination].self, forKey: .route)
        }
    }

    public struct L4Match: Decodable, Hashable, Sendable {
        public var port: Int?
        /// Conditions present but not implemented (`sourceLabels`, `destinationSubnets`, ...).
        public var unsupportedFields: [String] = []

        public init(port: Int?) {
            self.port = port
        }

        enum CodingKeys: String, CodingKey { case port }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            port = try container.decodeIfPresent(Int.self, forKey: .port)
            unsupportedFields = try UnsupportedFields.named(in: decoder, besides: ["port"])
        }
    }

    public struct RouteDestination: Decodable, Hashable, Sendable {
        public var destination: Destination
        /// As sent. Istio gives a lone destination all traffic and an unweighted one among several none.
        public var weight: Int?

        public init(destination: Destination, weight: Int? = nil) {
            self.destination = destination
            self.weight = weight
        }
    }

    public struct Destination: Decodable, Hashable, Sendable {
        public var host: String
        public var subset: String?
        /// `port.number`; needed only when the destination service has several ports.
        public var port: Int?

        public init(host: String, subset: String? = nil, port: Int? = nil) {
            self.host = host
            self.subset = subset
            self.port = port
        }

        enum CodingKeys: String, CodingKey { case host, subset, port }
        private struct PortSelector: Decodable { var number: Int? }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            host = try container.decode(String.self, forKey: .host)
            subset = try container.decodeIfPresent(String.self, forKey: .subset)
            port = try container.decodeIfPresent(PortSelector.self, forKey: .port)?.number
        }
    }
}

extension Array where Element == VirtualService.RouteDestination {
    /// The weights Istio applies: a lone destination takes everything, otherwise unset means 0.
    public var effectiveWeights: [Int] {
        count == 1 ? [100] : map { $0.weight ?? 0 }
    }
}
