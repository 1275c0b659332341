import FoundationEssentials

/// A Secret (the gateway's TLS certificates and keys). `data` arrives base64-encoded and is
/// kept decoded; `stringData` (manifests only) is kept as text.
public struct Secret: Decodable, Hashable, Sendable {
    public var metadata: ObjectMeta
    public var declaredType: String?
    public var data: [String: [UInt8]]
    public var stringData: [String: String]

    /// The type of a Secret holding `tls.crt` and `tls.key`.
    public static let tlsType = "kubernetes.io/tls"

    public init(metadata: ObjectMeta, type: String? = nil, data: [String: [UInt8]] = [:], stringData: [String: String] = [:]) {
        self.metadata = metadata
        self.declaredType = type
        self.data = data
        self.stringData = stringData
    }

    public var key: ObjectKey { metadata.key }

    /// Kubernetes' default type. Left as a string: types are an open set (anyone may invent one).
    public var type: String { declaredType ?? "Opaque" }

    /// The bytes under `key`; `stringData` wins over `data`, as the API server merges them.
    public func value(forKey key: String) -> [UInt8]? {
        if let text = stringData[key] { return Array(text.utf8) }
        return data[key]
    }

    enum CodingKeys: String, CodingKey { case metadata, type, data, stringData }

    private struct DataKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        declaredType = try container.decodeIfPresent(String.self, forKey: .type)
        stringData = try container.decodeIfPresent([String: String].self, forKey: .stringData) ?? [:]
        data = [:]
        if container.contains(.data), try !container.decodeNil(forKey: .data) {
            // Decoded entry by entry so that a bad value is reported under its own key.
            let entries = try container.nestedContainer(keyedBy: DataKey.self, forKey: .data)
            for key in entries.allKeys {
                let text = try entries.decode(String.self, forKey: key)
                guard let bytes = Data(base64Encoded: text) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: key, in: entries, debugDescription: "not valid base64")
                }
                data[key.stringValue] = Array(bytes)
            }
        }
    }
}
