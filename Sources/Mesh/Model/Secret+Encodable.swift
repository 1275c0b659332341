import FoundationEssentials

// The wire shape of a Secret; see ObjectMeta+Encodable.swift for why. `data` goes back to
// base64, as the API server sends it.

extension Secret: Encodable {
    private enum WireKeys: String, CodingKey { case metadata, type, data, stringData }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKeys.self)
        try container.encode(metadata, forKey: .metadata)
        try container.encodeIfPresent(declaredType, forKey: .type)
        if !data.isEmpty {
            try container.encode(data.mapValues { Data($0).base64EncodedString() }, forKey: .data)
        }
        if !stringData.isEmpty { try container.encode(stringData, forKey: .stringData) }
    }
}
