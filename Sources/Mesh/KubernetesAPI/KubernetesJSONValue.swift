import FoundationEssentials

/// A JSON document as a tree, so code can patch objects it has no Swift type for (a Node's
/// annotations) and a test server can stamp `metadata.resourceVersion` into them the way an API server does.
public enum KubernetesJSONValue: Codable, Hashable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([KubernetesJSONValue])
    case object([String: KubernetesJSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // Bool before numbers and integers before doubles: the decoder converts liberally otherwise.
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([KubernetesJSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: KubernetesJSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    public subscript(key: String) -> KubernetesJSONValue? {
        get {
            guard case .object(let fields) = self else { return nil }
            return fields[key]
        }
        set {
            guard case .object(var fields) = self else { return }
            fields[key] = newValue
            self = .object(fields)
        }
    }

    public var stringValue: String? {
        guard case .string(let value) = self else { return nil }
        return value
    }

    public static func parse(_ bytes: [UInt8]) throws -> KubernetesJSONValue {
        try JSONDecoder().decode(KubernetesJSONValue.self, from: Data(bytes))
    }

    /// Compact, one line (watch streams are newline-delimited), keys sorted so output never
    /// depends on dictionary order.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a tree of plain values cannot fail: no non-finite doubles come out of a parse.
        return (try? Array(encoder.encode(self))) ?? Array("null".utf8)
    }
}
