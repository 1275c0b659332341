/// What was wrong with one object that could not be decoded, in words an operator can act on:
/// where it was (document and item index), which object (kind and name, when those could
/// still be read), which field, and why.
public struct DecodingProblem: Error, Hashable, Sendable, CustomStringConvertible {
    /// Position of the YAML document in a multi-document stream.
    public var document: Int?
    /// Position of the item in a list's `items`.
    public var index: Int?
    public var kind: String?
    public var namespace: String?
    public var name: String?
    /// Dotted path inside the object, e.g. `spec.ports[0].port`; empty for the object itself.
    public var fieldPath: String
    public var reason: String

    public init(
        document: Int? = nil, index: Int? = nil, kind: String? = nil, namespace: String? = nil,
        name: String? = nil, fieldPath: String, reason: String
    ) {
        self.document = document
        self.index = index
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.fieldPath = fieldPath
        self.reason = reason
    }

    public var description: String {
        var parts: [String] = []
        if let document { parts.append("document \(document)") }
        if let index { parts.append("item \(index)") }
        let identity = [kind, name.map { name in namespace.map { "\($0)/\(name)" } ?? name }]
            .compactMap { $0 }.joined(separator: " ")
        if !identity.isEmpty { parts.append("(\(identity))") }
        parts.append("field \(fieldPath.isEmpty ? "<object>" : fieldPath): \(reason)")
        return parts.joined(separator: " ")
    }

    /// Describes a `DecodingError`, with its path made relative to `base` (the object's own path).
    init(_ error: any Error, base: [any CodingKey], identity: ObjectIdentity?) {
        var path: [any CodingKey] = []
        var reason: String
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            path = context.codingPath + [key]
            reason = "required field is missing"
        case DecodingError.valueNotFound(let type, let context):
            path = context.codingPath
            reason = "expected \(type), found null"
        case DecodingError.typeMismatch(_, let context):
            path = context.codingPath
            reason = context.debugDescription
        case DecodingError.dataCorrupted(let context):
            path = context.codingPath
            reason = context.debugDescription
        default:
            reason = String(describing: error)
        }
        if path.count >= base.count, zip(path, base).allSatisfy({ $0.0.stringValue == $0.1.stringValue }) {
            path.removeFirst(base.count)
        }
        self.init(
            index: base.last?.intValue, kind: identity?.kind, namespace: identity?.metadata?.namespace,
            name: identity?.metadata?.name, fieldPath: Self.format(path), reason: reason)
    }

    /// `[spec, ports, 0, port]` → `spec.ports[0].port`.
    static func format(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text
    }
}

/// The few fields that say what an object is, read on their own so that they are available
/// even when the rest of the object is malformed.
struct ObjectIdentity: Decodable {
    struct Metadata: Decodable {
        var name: String?
        var namespace: String?
    }
    var apiVersion: String?
    var kind: String?
    var metadata: Metadata?

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // Each field on its own `try?`: one wrong type must not hide the others.
        apiVersion = (try? container.decodeIfPresent(String.self, forKey: .apiVersion)) ?? nil
        kind = (try? container.decodeIfPresent(String.self, forKey: .kind)) ?? nil
        metadata = (try? container.decodeIfPresent(Metadata.self, forKey: .metadata)) ?? nil
    }

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata }
}

/// An element decoded on its own, so that one malformed element costs only itself.
struct LenientElement<Element: Decodable>: Decodable {
    var result: Result<Element, DecodingProblem>

    init(from decoder: any Decoder) throws {
        do {
            result = .success(try Element(from: decoder))
        } catch {
            result = .failure(DecodingProblem(
                error, base: decoder.codingPath, identity: try? ObjectIdentity(from: decoder)))
        }
    }
}
