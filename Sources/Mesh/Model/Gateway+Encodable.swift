// The wire shape of a Gateway; see ObjectMeta+Encodable.swift for why.

extension Gateway: Encodable {
    private enum WireKeys: String, CodingKey { case metadata, spec }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(spec, forKey: .spec)
    }
}

extension Gateway.Spec: Encodable {
    private enum WireKeys: String, CodingKey { case selector, servers }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(selector, forKey: .selector)
        try container.encode(servers, forKey: .servers)
    }
}

extension Gateway.Server: Encodable {
    private enum WireKeys: String, CodingKey { case name, port, hosts, tls }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encode(port, forKey: .port)
        try container.encode(hosts, forKey: .hosts)
        try container.encodeIfPresent(tls, forKey: .tls)
    }
}

extension Gateway.Port: Encodable {
    private enum WireKeys: String, CodingKey { case number, name, `protocol` }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(number, forKey: .number)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encode(self.protocol, forKey: .protocol)
    }
}

extension Gateway.TLSMode: Encodable {}

extension Gateway.TLS: Encodable {
    private enum WireKeys: String, CodingKey { case mode, credentialName, httpsRedirect }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(declaredMode, forKey: .mode)
        try container.encodeIfPresent(credentialName, forKey: .credentialName)
        try container.encodeIfPresent(httpsRedirect, forKey: .httpsRedirect)
    }
}
