// Encodable conformances for the model's shared pieces, written by hand because Swift only
// synthesizes a conformance in the file that declares the type. They produce the Kubernetes
// wire shape, so what they write decodes back through the model's own `Decodable` into an
// equal value: the offline snapshot relies on that round trip.

extension ObjectMeta: Encodable {
    private enum WireKeys: String, CodingKey {
        case name, namespace, labels, annotations, resourceVersion, uid, deletionTimestamp
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(declaredNamespace, forKey: .namespace)
        if !labels.isEmpty { try container.encode(labels, forKey: .labels) }
        if !annotations.isEmpty { try container.encode(annotations, forKey: .annotations) }
        try container.encodeIfPresent(resourceVersion, forKey: .resourceVersion)
        try container.encodeIfPresent(uid, forKey: .uid)
        try container.encodeIfPresent(deletionTimestamp, forKey: .deletionTimestamp)
    }
}

extension ObjectReference: Encodable {
    private enum WireKeys: String, CodingKey { case kind, namespace, name, uid }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encodeIfPresent(kind, forKey: .kind)
        try container.encodeIfPresent(namespace, forKey: .namespace)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encodeIfPresent(uid, forKey: .uid)
    }
}

extension KubernetesCondition: Encodable {
    private enum WireKeys: String, CodingKey { case type, status, reason, message }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(type, forKey: .type)
        try container.encode(status, forKey: .status)
        try container.encodeIfPresent(reason, forKey: .reason)
        try container.encodeIfPresent(message, forKey: .message)
    }
}

// String raw-value enums get `encode(to:)` from the standard library's RawRepresentable default.
extension KubernetesCondition.Status: Encodable {}
extension PortProtocol: Encodable {}

extension IntOrString: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let number): try container.encode(number)
        case .name(let name): try container.encode(name)
        }
    }
}
