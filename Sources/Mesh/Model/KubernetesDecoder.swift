import FoundationEssentials
import NIOCore
import Yams

/// Decodes Kubernetes documents from JSON (API server, KubeEdge metaServer, watch events) and
/// from YAML (manifests), turning every failure into a `KubernetesDecodingError` that names
/// the field at fault.
public enum KubernetesDecoder {
    public static func decode<T: Decodable>(_ type: T.Type, json: ByteBuffer) throws(KubernetesDecodingError) -> T {
        try decode(type, jsonData: Data(json.readableBytesView))
    }

    public static func decode<T: Decodable>(_ type: T.Type, json: [UInt8]) throws(KubernetesDecodingError) -> T {
        try decode(type, jsonData: Data(json))
    }

    public static func decode<T: Decodable>(_ type: T.Type, yaml: String) throws(KubernetesDecodingError) -> T {
        // Parse first so that "not YAML" is told apart from "YAML, but not this object".
        let node: Yams.Node
        do {
            node = try Yams.compose(yaml: yaml, Resolver.basic) ?? Yams.Node("")
        } catch {
            throw .notWellFormed(format: .yaml, reason: String(describing: error))
        }
        return try decode(type, yaml: node)
    }

    /// Decodes one composed YAML document (see `YAMLNodeDecoder` for why not `YAMLDecoder`).
    static func decode<T: Decodable>(_ type: T.Type, yaml node: Yams.Node) throws(KubernetesDecodingError) -> T {
        do {
            return try YAMLNodeDecoder.decode(type, from: node)
        } catch {
            let identity = try? YAMLNodeDecoder.decode(ObjectIdentity.self, from: node)
            throw .invalidObject(DecodingProblem(error, base: [], identity: identity))
        }
    }

    /// A list response; malformed items are skipped and reported in `skipped`.
    public static func decodeList<Item>(_ type: Item.Type, json: ByteBuffer) throws(KubernetesDecodingError)
        -> KubernetesList<Item>
    {
        try decode(KubernetesList<Item>.self, json: json)
    }

    public static func decodeList<Item>(_ type: Item.Type, json: [UInt8]) throws(KubernetesDecodingError)
        -> KubernetesList<Item>
    {
        try decode(KubernetesList<Item>.self, json: json)
    }

    public static func decodeList<Item>(_ type: Item.Type, yaml: String) throws(KubernetesDecodingError)
        -> KubernetesList<Item>
    {
        try decode(KubernetesList<Item>.self, yaml: yaml)
    }

    private static func decode<T: Decodable>(_ type: T.Type, jsonData: Data) throws(KubernetesDecodingError) -> T {
        do {
            return try JSONDecoder().decode(type, from: jsonData)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            // Only a syntax error is reported at the root: every object check names a field.
            throw .notWellFormed(format: .json, reason: context.underlyingError.map { String(describing: $0) } ?? context.debugDescription)
        } catch {
            let identity = try? JSONDecoder().decode(ObjectIdentity.self, from: jsonData)
            throw .invalidObject(DecodingProblem(error, base: [], identity: identity))
        }
    }

    /// The non-empty documents of a YAML stream, composed without tag resolution (the decoders
    /// type scalars themselves). Throws when the stream is not YAML.
    static func yamlDocuments(_ yaml: String) throws(KubernetesDecodingError) -> [Yams.Node] {
        var documents: [Yams.Node] = []
        do {
            // The sequence stores a parse error instead of throwing it; it is checked below.
            var nodes = try Yams.compose_all(yaml: yaml, Resolver.basic)
            while let node = nodes.next() {
                // `---` at the end of a file, or two separators in a row, yield an empty document.
                if case .scalar(let scalar) = node, ["", "~", "null"].contains(scalar.string) { continue }
                documents.append(node)
            }
            if let error = nodes.error { throw error }
        } catch {
            throw .notWellFormed(format: .yaml, reason: String(describing: error))
        }
        return documents
    }
}
