// The wire shape of a DestinationRule; see ObjectMeta+Encodable.swift for why.

extension DestinationRule: Encodable {
    private enum WireKeys: String, CodingKey { case metadata, spec }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(spec, forKey: .spec)
    }
}

extension DestinationRule.Spec: Encodable {
    private enum WireKeys: String, CodingKey { case host, trafficPolicy, subsets }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(host, forKey: .host)
        try container.encodeIfPresent(trafficPolicy, forKey: .trafficPolicy)
        try container.encode(subsets, forKey: .subsets)
    }
}

extension DestinationRule.Subset: Encodable {
    private enum WireKeys: String, CodingKey { case name, labels, trafficPolicy }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(labels, forKey: .labels)
        try container.encodeIfPresent(trafficPolicy, forKey: .trafficPolicy)
    }
}

extension DestinationRule.SimpleAlgorithm: Encodable {}

extension DestinationRule.TrafficPolicy: Encodable {
    private enum WireKeys: String, CodingKey { case loadBalancer, outlierDetection }
    private enum BalancerKeys: String, CodingKey { case simple, consistentHash }
    private enum HashKeys: String, CodingKey {
        case httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName, minimumRingSize
    }
    private enum CookieKeys: String, CodingKey { case name, path, ttl }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(outlierDetection, forKey: .outlierDetection)
        guard let loadBalancer else { return }
        var balancer = container.nestedContainer(keyedBy: BalancerKeys.self, forKey: .loadBalancer)
        switch loadBalancer {
        case .simple(let algorithm):
            try balancer.encode(algorithm, forKey: .simple)
        case .consistentHash(let hash):
            var settings = balancer.nestedContainer(keyedBy: HashKeys.self, forKey: .consistentHash)
            switch hash.key {
            case .httpHeaderName(let name): try settings.encode(name, forKey: .httpHeaderName)
            case .httpCookie(let cookie):
                var fields = settings.nestedContainer(keyedBy: CookieKeys.self, forKey: .httpCookie)
                try fields.encode(cookie.name, forKey: .name)
                try fields.encodeIfPresent(cookie.path, forKey: .path)
                // Nanoseconds are exact, and Istio's duration syntax reads them back unchanged.
                if let ttl = cookie.ttl { try fields.encode("\(ttl.nanoseconds)ns", forKey: .ttl) }
            case .sourceIP: try settings.encode(true, forKey: .useSourceIp)
            case .httpQueryParameterName(let name): try settings.encode(name, forKey: .httpQueryParameterName)
            }
            try settings.encodeIfPresent(hash.declaredMinimumRingSize, forKey: .minimumRingSize)
        }
    }
}
