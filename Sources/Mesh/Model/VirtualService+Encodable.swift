// The wire shape of a VirtualService; see ObjectMeta+Encodable.swift for why.

extension VirtualService: Encodable {
    private enum WireKeys: String, CodingKey { case metadata, spec }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(spec, forKey: .spec)
    }
}

extension VirtualService.Spec: Encodable {
    private enum WireKeys: String, CodingKey { case hosts, gateways, http, tcp }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(hosts, forKey: .hosts)
        try container.encode(gateways, forKey: .gateways)
        try container.encode(http, forKey: .http)
        try container.encode(tcp, forKey: .tcp)
    }
}

extension VirtualService.HTTPRoute: Encodable {
    private enum WireKeys: String, CodingKey { case name, match, route }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encode(match, forKey: .match)
        try container.encode(route, forKey: .route)
    }
}

extension VirtualService.HTTPMatch: Encodable {
    private enum WireKeys: String, CodingKey { case uri }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(uri, forKey: .uri)
    }
}

extension VirtualService.StringMatch: Encodable {
    private enum WireKeys: String, CodingKey { case exact, prefix, regex }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        switch self {
        case .exact(let value): try container.encode(value, forKey: .exact)
        case .prefix(let value): try container.encode(value, forKey: .prefix)
        case .regex(let value): try container.encode(value, forKey: .regex)
        }
    }
}

extension VirtualService.TCPRoute: Encodable {
    private enum WireKeys: String, CodingKey { case match, route }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(match, forKey: .match)
        try container.encode(route, forKey: .route)
    }
}

extension VirtualService.L4Match: Encodable {
    private enum WireKeys: String, CodingKey { case port }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(port, forKey: .port)
    }
}

extension VirtualService.RouteDestination: Encodable {
    private enum WireKeys: String, CodingKey { case destination, weight }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(destination, forKey: .destination)
        try container.encodeIfPresent(weight, forKey: .weight)
    }
}

extension VirtualService.Destination: Encodable {
    private enum WireKeys: String, CodingKey { case host, subset, port }
    private enum PortKeys: String, CodingKey { case number }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(host, forKey: .host)
        try container.encodeIfPresent(subset, forKey: .subset)
        if let port {
            var selector = container.nestedContainer(keyedBy: PortKeys.self, forKey: .port)
            try selector.encode(port, forKey: .number)
        }
    }
}
