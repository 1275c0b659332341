/// How one service spreads new connections over its backends, as its Istio DestinationRule
/// (or the default) asks.
public enum LoadBalancingPolicy: Hashable, Sendable, CustomStringConvertible {
    /// Each backend in turn (the default, as in Istio).
    case roundRobin
    /// A backend drawn at random from the host's generator.
    case random
    /// The backend with the fewest connections in progress; ties are broken at random.
    case leastRequest
    /// A ring hash over `key` with bounded load, so one key keeps reaching one backend while
    /// that backend is not overloaded.
    case consistentHash(DestinationRule.HashKey, minimumRingSize: Int)

    /// The policy a DestinationRule's `trafficPolicy.loadBalancer` names; round robin when it
    /// names none. `PASSTHROUGH` (send to the address the client dialled) means nothing for a
    /// cluster IP, which no process listens on, so it is balanced round robin as well.
    public init(_ loadBalancer: DestinationRule.LoadBalancerSettings?) {
        switch loadBalancer {
        case nil, .simple(.unspecified), .simple(.roundRobin), .simple(.passthrough):
            self = .roundRobin
        case .simple(.random):
            self = .random
        case .simple(.leastRequest), .simple(.leastConn):
            self = .leastRequest
        case .consistentHash(let hash):
            self = .consistentHash(hash.key, minimumRingSize: hash.minimumRingSize)
        }
    }

    /// Whether a choice under this policy needs the first HTTP request head of the connection.
    public var needsHTTPRequest: Bool {
        switch self {
        case .consistentHash(.httpHeaderName, _), .consistentHash(.httpCookie, _),
            .consistentHash(.httpQueryParameterName, _):
            true
        default:
            false
        }
    }

    /// Whether choices weigh the connections each backend has in progress (least request and
    /// the bounded-load ring), so the proxy must count them open and closed.
    public var weighsLoad: Bool {
        switch self {
        case .leastRequest, .consistentHash: true
        case .roundRobin, .random: false
        }
    }

    public var description: String {
        switch self {
        case .roundRobin: "ROUND_ROBIN"
        case .random: "RANDOM"
        case .leastRequest: "LEAST_REQUEST"
        case .consistentHash(let key, _):
            switch key {
            case .httpHeaderName(let name): "consistentHash(httpHeaderName: \(name))"
            case .httpCookie(let cookie): "consistentHash(httpCookie: \(cookie.name))"
            case .sourceIP: "consistentHash(useSourceIp)"
            case .httpQueryParameterName(let name): "consistentHash(httpQueryParameterName: \(name))"
            }
        }
    }
}
