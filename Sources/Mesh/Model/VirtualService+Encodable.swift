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
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(hosts, forKey: .hosts)
        try container.encode(gateways, forKey: .gateways)
        try container.encode(http, forKey: .http)
        if !tls.isEmpty { try container.encode(tls, forKey: .tls) }
        try container.encode(tcp, forKey: .tcp)
    }
}

extension VirtualService.TLSRoute: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(match, forKey: .match)
        try container.encode(route, forKey: .route)
    }
}

extension VirtualService.TLSMatch: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sniHosts, forKey: .sniHosts)
        try container.encodeIfPresent(port, forKey: .port)
    }
}

extension VirtualService.HTTPRoute: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encode(match, forKey: .match)
        try container.encode(route, forKey: .route)
        try container.encodeIfPresent(redirect, forKey: .redirect)
        try container.encodeIfPresent(directResponse, forKey: .directResponse)
        try container.encodeIfPresent(rewrite, forKey: .rewrite)
        try container.encodeIfPresent(timeout, forKey: .timeout)
        try container.encodeIfPresent(retries, forKey: .retries)
        try container.encodeIfPresent(headers, forKey: .headers)
        try container.encodeIfPresent(corsPolicy, forKey: .corsPolicy)
    }
}

extension VirtualService.HTTPMatch: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encodeIfPresent(uri, forKey: .uri)
        try container.encodeIfPresent(scheme, forKey: .scheme)
        try container.encodeIfPresent(method, forKey: .method)
        try container.encodeIfPresent(authority, forKey: .authority)
        if !headers.isEmpty { try container.encode(headers, forKey: .headers) }
        if !withoutHeaders.isEmpty { try container.encode(withoutHeaders, forKey: .withoutHeaders) }
        if !queryParams.isEmpty { try container.encode(queryParams, forKey: .queryParams) }
        try container.encodeIfPresent(port, forKey: .port)
        if ignoreUriCase { try container.encode(true, forKey: .ignoreUriCase) }
    }
}

extension VirtualService.ValueMatch: Encodable {
    private struct NoKeys: CodingKey {
        var stringValue: String { "" }
        var intValue: Int? { nil }
        init?(stringValue: String) { nil }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .present: _ = encoder.container(keyedBy: NoKeys.self)
        case .value(let match): try match.encode(to: encoder)
        }
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
