// The wire shape of Endpoints and EndpointSlices; see ObjectMeta+Encodable.swift for why.

extension Endpoints: Encodable {
    private enum WireKeys: String, CodingKey { case metadata, subsets }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(subsets, forKey: .subsets)
    }
}

extension Endpoints.Subset: Encodable {
    private enum WireKeys: String, CodingKey { case addresses, notReadyAddresses, ports }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(addresses, forKey: .addresses)
        try container.encode(notReadyAddresses, forKey: .notReadyAddresses)
        try container.encode(ports, forKey: .ports)
    }
}

extension Endpoints.Address: Encodable {
    private enum WireKeys: String, CodingKey { case ip, nodeName, hostname, targetRef }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(ip, forKey: .ip)
        try container.encodeIfPresent(nodeName, forKey: .nodeName)
        try container.encodeIfPresent(hostname, forKey: .hostname)
        try container.encodeIfPresent(targetRef, forKey: .targetRef)
    }
}

extension Endpoints.Port: Encodable {
    private enum WireKeys: String, CodingKey { case name, port, `protocol` }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encode(port, forKey: .port)
        try container.encodeIfPresent(declaredProtocol, forKey: .protocol)
    }
}

extension EndpointSlice: Encodable {
    private enum WireKeys: String, CodingKey { case metadata, addressType, endpoints, ports }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(addressType, forKey: .addressType)
        try container.encode(endpoints, forKey: .endpoints)
        try container.encode(ports, forKey: .ports)
    }
}

extension EndpointSlice.AddressType: Encodable {}

extension EndpointSlice.Endpoint: Encodable {
    private enum WireKeys: String, CodingKey { case addresses, conditions, nodeName, hostname, zone, targetRef }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(addresses, forKey: .addresses)
        try container.encode(conditions, forKey: .conditions)
        try container.encodeIfPresent(nodeName, forKey: .nodeName)
        try container.encodeIfPresent(hostname, forKey: .hostname)
        try container.encodeIfPresent(zone, forKey: .zone)
        try container.encodeIfPresent(targetRef, forKey: .targetRef)
    }
}

extension EndpointSlice.Conditions: Encodable {
    private enum WireKeys: String, CodingKey { case ready, serving, terminating }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(declaredReady, forKey: .ready)
        try container.encodeIfPresent(declaredServing, forKey: .serving)
        try container.encodeIfPresent(declaredTerminating, forKey: .terminating)
    }
}

extension EndpointSlice.Port: Encodable {
    private enum WireKeys: String, CodingKey { case name, port, `protocol` }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encodeIfPresent(port, forKey: .port)
        try container.encodeIfPresent(declaredProtocol, forKey: .protocol)
    }
}
