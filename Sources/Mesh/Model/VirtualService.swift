/// An Istio `VirtualService`: HTTP and TCP routing rules for a set of hosts, bound to mesh
/// traffic or to Gateways. Only matching on URI (HTTP) and port (TCP) is modelled; every other
/// field present is named in `unsupportedFields` of its level, so the gateway can say what it
/// does not do instead of silently doing less.
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
        public var tcp: [TCPRoute]
        /// Fields of the spec present but not modelled (`tls`, `exportTo`, ...), in document order.
        public var unsupportedFields: [String] = []

        public init(hosts: [String], gateways: [String] = [], http: [HTTPRoute] = [], tcp: [TCPRoute] = []) {
            self.hosts = hosts
            self.gateways = gateways
            self.http = http
            self.tcp = tcp
        }

        enum CodingKeys: String, CodingKey { case hosts, gateways, http, tcp }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            hosts = try container.decodeList([String].self, forKey: .hosts)
            gateways = try container.decodeList([String].self, forKey: .gateways)
            http = try container.decodeList([HTTPRoute].self, forKey: .http)
            tcp = try container.decodeList([TCPRoute].self, forKey: .tcp)
            unsupportedFields = try UnsupportedFields.named(in: decoder, besides: ["hosts", "gateways", "http", "tcp"])
        }
    }

    public struct HTTPRoute: Decodable, Hashable, Sendable {
        public var name: String?
        /// Any one match selects the route; no matches means every request.
        public var match: [HTTPMatch]
        public var route: [RouteDestination]
        /// Fields present but not implemented (`rewrite`, `timeout`, `retries`, ...).
        public var unsupportedFields: [String] = []

        public init(name: String? = nil, match: [HTTPMatch] = [], route: [RouteDestination]) {
            self.name = name
            self.match = match
            self.route = route
        }

        enum CodingKeys: String, CodingKey { case name, match, route }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            match = try container.decodeList([HTTPMatch].self, forKey: .match)
            route = try container.decodeList([RouteDestination].self, forKey: .route)
            unsupportedFields = try UnsupportedFields.named(in: decoder, besides: ["name", "match", "route"])
        }
    }

    public struct HTTPMatch: Decodable, Hashable, Sendable {
        public var uri: StringMatch?
        /// Conditions present but not implemented (`headers`, `method`, `queryParams`, ...).
        public var unsupportedFields: [String] = []

        public init(uri: StringMatch?) {
            self.uri = uri
        }

        enum CodingKeys: String, CodingKey { case uri }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            uri = try container.decodeIfPresent(StringMatch.self, forKey: .uri)
            unsupportedFields = try UnsupportedFields.named(in: decoder, besides: ["uri", "name"])
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
