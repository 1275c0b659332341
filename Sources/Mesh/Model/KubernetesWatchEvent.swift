/// One event of a watch stream. ERROR events carry a Status (410 Gone means "list again"); a
/// BOOKMARK carries only the resource version to resume from.
public enum KubernetesWatchEvent<Object: Decodable & Hashable & Sendable>: Decodable, Hashable, Sendable {
    case added(Object)
    case modified(Object)
    case deleted(Object)
    case bookmark(resourceVersion: String)
    case error(KubernetesStatus)

    enum CodingKeys: String, CodingKey { case type, object }

    // A bookmark's object is a stub of the watched kind holding metadata alone.
    private struct Bookmark: Decodable { var metadata: ObjectMeta }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "ADDED": self = .added(try container.decode(Object.self, forKey: .object))
        case "MODIFIED": self = .modified(try container.decode(Object.self, forKey: .object))
        case "DELETED": self = .deleted(try container.decode(Object.self, forKey: .object))
        case "ERROR": self = .error(try container.decode(KubernetesStatus.self, forKey: .object))
        case "BOOKMARK":
            let bookmark = try container.decode(Bookmark.self, forKey: .object)
            self = .bookmark(resourceVersion: bookmark.metadata.resourceVersion ?? "")
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container,
                debugDescription: "unknown watch event type \"\(type)\" (expected ADDED, MODIFIED, DELETED, BOOKMARK or ERROR)")
        }
    }

    /// The object of an ADDED, MODIFIED or DELETED event.
    public var object: Object? {
        switch self {
        case .added(let object), .modified(let object), .deleted(let object): object
        case .bookmark, .error: nil
        }
    }
}
