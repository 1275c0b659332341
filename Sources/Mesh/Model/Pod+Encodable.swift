// The wire shape of Pods and Nodes; see ObjectMeta+Encodable.swift for why.

extension Pod: Encodable {
    private enum WireKeys: String, CodingKey { case metadata, spec, status }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(spec, forKey: .spec)
        try container.encode(status, forKey: .status)
    }
}

extension Pod.Phase: Encodable {}

extension Pod.Spec: Encodable {
    private enum WireKeys: String, CodingKey { case nodeName, hostname, subdomain }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(nodeName, forKey: .nodeName)
        try container.encodeIfPresent(hostname, forKey: .hostname)
        try container.encodeIfPresent(subdomain, forKey: .subdomain)
    }
}

extension Pod.Status: Encodable {
    private enum WireKeys: String, CodingKey { case phase, podIP, podIPs, conditions }
    private enum PodIPKeys: String, CodingKey { case ip }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(declaredPhase, forKey: .phase)
        try container.encodeIfPresent(podIP, forKey: .podIP)
        // `podIPs` is a list of `{ip: ...}` objects on the wire.
        var list = container.nestedUnkeyedContainer(forKey: .podIPs)
        for ip in podIPs {
            var entry = list.nestedContainer(keyedBy: PodIPKeys.self)
            try entry.encode(ip, forKey: .ip)
        }
        try container.encode(conditions, forKey: .conditions)
    }
}

extension Node: Encodable {
    private enum WireKeys: String, CodingKey { case metadata, spec, status }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(metadata, forKey: .metadata)
        if spec != Node.Spec() { try container.encode(spec, forKey: .spec) }
        try container.encode(status, forKey: .status)
    }
}

extension Node.Spec: Encodable {
    private enum WireKeys: String, CodingKey { case podCIDR, podCIDRs }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(podCIDR, forKey: .podCIDR)
        if !podCIDRs.isEmpty { try container.encode(podCIDRs, forKey: .podCIDRs) }
    }
}

extension Node.AddressType: Encodable {}

extension Node.Address: Encodable {
    private enum WireKeys: String, CodingKey { case type, address }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(type, forKey: .type)
        try container.encode(address, forKey: .address)
    }
}

extension Node.Status: Encodable {
    private enum WireKeys: String, CodingKey { case addresses, conditions }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(addresses, forKey: .addresses)
        try container.encode(conditions, forKey: .conditions)
    }
}
