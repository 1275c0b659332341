/// `targetRef` of an endpoint: the object (usually a Pod) that backs an address.
///
/// Its four fields live in one shared box, so an endpoint address carries a pointer instead of
/// four optional strings inline: with 10,000 endpoints that halves the size of every address
/// array the table keeps, whether or not the references are present.
public struct ObjectReference: Decodable, Hashable, Sendable {
    private var storage: Storage

    public init(kind: String? = nil, namespace: String? = nil, name: String? = nil, uid: String? = nil) {
        storage = Storage(kind: kind, namespace: namespace, name: name, uid: uid)
    }

    public init(from decoder: any Decoder) throws {
        storage = try Storage(from: decoder)
    }

    public var kind: String? { get { storage.fields.kind } set { mutableFields.kind = newValue } }
    public var namespace: String? { get { storage.fields.namespace } set { mutableFields.namespace = newValue } }
    public var name: String? { get { storage.fields.name } set { mutableFields.name = newValue } }
    public var uid: String? { get { storage.fields.uid } set { mutableFields.uid = newValue } }

    public static func == (lhs: ObjectReference, rhs: ObjectReference) -> Bool {
        lhs.storage === rhs.storage || lhs.storage.fields == rhs.storage.fields
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.fields)
    }

    /// Copy on write: a box shared with another reference is copied before it changes.
    private var mutableFields: Fields {
        get { storage.fields }
        _modify {
            if !isKnownUniquelyReferenced(&storage) { storage = Storage(storage.fields) }
            yield &storage.fields
        }
    }

    private struct Fields: Decodable, Hashable, Sendable {
        var kind: String?
        var namespace: String?
        var name: String?
        var uid: String?
    }

    /// Mutated only through `mutableFields`, when uniquely referenced.
    private final class Storage: @unchecked Sendable {
        var fields: Fields

        init(_ fields: Fields) {
            self.fields = fields
        }

        convenience init(kind: String?, namespace: String?, name: String?, uid: String?) {
            self.init(Fields(kind: kind, namespace: namespace, name: name, uid: uid))
        }

        convenience init(from decoder: any Decoder) throws {
            self.init(try Fields(from: decoder))
        }
    }
}
