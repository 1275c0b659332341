// What an HTTP route of a VirtualService does besides choosing destinations, in Istio's field
// names. Read here, bound (durations parsed, patterns compiled) by the gateway.

extension VirtualService {
    /// `rewrite`: the path (or the prefix the match took) and the authority the backend sees.
    public struct HTTPRewrite: Codable, Hashable, Sendable {
        public var uri: String?
        public var authority: String?
        public var uriRegexRewrite: RegexRewrite?

        public init(uri: String? = nil, authority: String? = nil, uriRegexRewrite: RegexRewrite? = nil) {
            self.uri = uri
            self.authority = authority
            self.uriRegexRewrite = uriRegexRewrite
        }
    }

    /// Every match of `match` in the path replaced by `rewrite`, where `\1`... name its groups.
    public struct RegexRewrite: Codable, Hashable, Sendable {
        public var match: String
        public var rewrite: String

        public init(match: String, rewrite: String) {
            self.match = match
            self.rewrite = rewrite
        }
    }

    /// `redirect`: answered by the gateway; the parts not given are the request's own.
    public struct HTTPRedirect: Codable, Hashable, Sendable {
        public var uri: String?
        public var authority: String?
        public var port: Int?
        /// `FROM_PROTOCOL_DEFAULT` or `FROM_REQUEST_PORT`.
        public var derivePort: String?
        public var scheme: String?
        /// 301 unless set.
        public var redirectCode: Int?

        public init(
            uri: String? = nil, authority: String? = nil, port: Int? = nil, derivePort: String? = nil, scheme: String? = nil,
            redirectCode: Int? = nil
        ) {
            self.uri = uri
            self.authority = authority
            self.port = port
            self.derivePort = derivePort
            self.scheme = scheme
            self.redirectCode = redirectCode
        }
    }

    /// `directResponse`: a fixed status and body, answered by the gateway.
    public struct HTTPDirectResponse: Codable, Hashable, Sendable {
        public var status: Int
        public var body: Body?

        /// One of `string` or `bytes` (base64).
        public struct Body: Codable, Hashable, Sendable {
            public var string: String?
            public var bytes: String?

            public init(string: String? = nil, bytes: String? = nil) {
                self.string = string
                self.bytes = bytes
            }
        }

        public init(status: Int, body: Body? = nil) {
            self.status = status
            self.body = body
        }
    }

    /// `retries`: how often, how long each try, and on what.
    public struct HTTPRetry: Codable, Hashable, Sendable {
        /// Retries after the first try; 0 turns Istio's default retries off.
        public var attempts: Int?
        public var perTryTimeout: String?
        /// Envoy's comma list: `5xx`, `gateway-error`, `reset`, `connect-failure`, `retriable-4xx`,
        /// `refused-stream`, `retriable-status-codes`, or status codes.
        public var retryOn: String?

        public init(attempts: Int? = nil, perTryTimeout: String? = nil, retryOn: String? = nil) {
            self.attempts = attempts
            self.perTryTimeout = perTryTimeout
            self.retryOn = retryOn
        }
    }

    /// `headers`: edits to the request on its way to the backend and to the response on its way back.
    public struct HeaderEdits: Codable, Hashable, Sendable {
        public var request: HeaderOperations?
        public var response: HeaderOperations?

        public init(request: HeaderOperations? = nil, response: HeaderOperations? = nil) {
            self.request = request
            self.response = response
        }
    }

    public struct HeaderOperations: Codable, Hashable, Sendable {
        /// Replaces every value of the header.
        public var set: [String: String]?
        /// Adds a value, keeping those already there.
        public var add: [String: String]?
        public var remove: [String]?

        public init(set: [String: String]? = nil, add: [String: String]? = nil, remove: [String]? = nil) {
            self.set = set
            self.add = add
            self.remove = remove
        }
    }

    /// `corsPolicy`: which cross-origin requests browsers are told they may make.
    public struct CorsPolicy: Codable, Hashable, Sendable {
        public var allowOrigins: [StringMatch]?
        /// Deprecated by Istio for `allowOrigins`, still written: exact origins.
        public var allowOrigin: [String]?
        public var allowMethods: [String]?
        public var allowHeaders: [String]?
        public var exposeHeaders: [String]?
        public var maxAge: String?
        public var allowCredentials: Bool?

        public init(
            allowOrigins: [StringMatch]? = nil, allowOrigin: [String]? = nil, allowMethods: [String]? = nil,
            allowHeaders: [String]? = nil, exposeHeaders: [String]? = nil, maxAge: String? = nil, allowCredentials: Bool? = nil
        ) {
            self.allowOrigins = allowOrigins
            self.allowOrigin = allowOrigin
            self.allowMethods = allowMethods
            self.allowHeaders = allowHeaders
            self.exposeHeaders = exposeHeaders
            self.maxAge = maxAge
            self.allowCredentials = allowCredentials
        }
    }
}
