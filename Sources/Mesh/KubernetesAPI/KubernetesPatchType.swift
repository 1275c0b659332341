/// How the server reads a PATCH body, named by its content type.
public enum KubernetesPatchType: Hashable, Sendable {
    /// RFC 7386 JSON merge patch: maps merge key by key, `null` removes a key.
    case merge
    /// Kubernetes' strategic merge patch; for maps such as `metadata.annotations` it merges
    /// exactly as a JSON merge patch does.
    case strategicMerge

    public var contentType: String {
        switch self {
        case .merge: "application/merge-patch+json"
        case .strategicMerge: "application/strategic-merge-patch+json"
        }
    }

    public init?(contentType: String) {
        // Parameters such as "; charset=utf-8" do not change the patch type.
        let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        switch type {
        case Self.merge.contentType: self = .merge
        case Self.strategicMerge.contentType: self = .strategicMerge
        default: return nil
        }
    }
}
