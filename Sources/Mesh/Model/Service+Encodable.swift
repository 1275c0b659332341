// The wire shape of a Service; see ObjectMeta+Encodable.swift for why these exist.

extension Service: Encodable {
    private enum WireKeys: String, CodingKey { case metadata, spec }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(spec, forKey: .spec)
    }
}

extension Service.ServiceType: Encodable {}
extension Service.SessionAffinity: Encodable {}
extension Service.TrafficPolicy: Encodable {}

extension Service.Spec: Encodable {
    private enum WireKeys: String, CodingKey {
        case type, clusterIP, clusterIPs, ports, selector, sessionAffinity, sessionAffinityConfig
        case externalName, internalTrafficPolicy, publishNotReadyAddresses
    }
    private enum AffinityKeys: String, CodingKey { case clientIP }
    private enum ClientIPKeys: String, CodingKey { case timeoutSeconds }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(declaredType, forKey: .type)
        try container.encodeIfPresent(clusterIP, forKey: .clusterIP)
        if !clusterIPs.isEmpty { try container.encode(clusterIPs, forKey: .clusterIPs) }
        if !ports.isEmpty { try container.encode(ports, forKey: .ports) }
        if !selector.isEmpty { try container.encode(selector, forKey: .selector) }
        try container.encodeIfPresent(declaredSessionAffinity, forKey: .sessionAffinity)
        if let timeout = declaredClientIPTimeoutSeconds {
            var affinity = container.nestedContainer(keyedBy: AffinityKeys.self, forKey: .sessionAffinityConfig)
            var clientIP = affinity.nestedContainer(keyedBy: ClientIPKeys.self, forKey: .clientIP)
            try clientIP.encode(timeout, forKey: .timeoutSeconds)
        }
        try container.encodeIfPresent(externalName, forKey: .externalName)
        try container.encodeIfPresent(declaredInternalTrafficPolicy, forKey: .internalTrafficPolicy)
        try container.encodeIfPresent(declaredPublishNotReadyAddresses, forKey: .publishNotReadyAddresses)
    }
}

extension ServicePort: Encodable {
    private enum WireKeys: String, CodingKey {
        case name, port, nodePort, `protocol`, targetPort, appProtocol
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encode(port, forKey: .port)
        try container.encodeIfPresent(nodePort, forKey: .nodePort)
        try container.encodeIfPresent(declaredProtocol, forKey: .protocol)
        try container.encodeIfPresent(declaredTargetPort, forKey: .targetPort)
        try container.encodeIfPresent(appProtocol, forKey: .appProtocol)
    }
}
