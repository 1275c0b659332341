/// Why a whole document could not be decoded.
public enum KubernetesDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The bytes are not JSON, or the text is not YAML, at all.
    case notWellFormed(format: Format, reason: String)
    /// The document parses but the object in it is malformed; the problem names the field.
    case invalidObject(DecodingProblem)

    public enum Format: String, Hashable, Sendable {
        case json = "JSON"
        case yaml = "YAML"
    }

    public var description: String {
        switch self {
        case .notWellFormed(let format, let reason): "document is not valid \(format.rawValue): \(reason)"
        case .invalidObject(let problem): "invalid object: \(problem)"
        }
    }
}
