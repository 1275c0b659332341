import Mesh

/// The test server's side of a resource's paths: a request's URL path back to the resource it
/// names. (Clients only build paths; `KubernetesResource.path(namespace:)`.)
extension KubernetesResource {
    /// Splits an object path (`/api/v1/nodes/edge-1`) into its collection's parts and the name.
    static func parse(objectPath path: String) -> (group: String, version: String, namespace: String?, plural: String, name: String)? {
        guard let slash = path.lastIndex(of: "/"), path.index(after: slash) < path.endIndex else { return nil }
        guard let collection = parse(path: String(path[..<slash])) else { return nil }
        return (collection.group, collection.version, collection.namespace, collection.plural, String(path[path.index(after: slash)...]))
    }

    /// Splits a request path into (group, version, namespace, plural); nil when it is not a
    /// collection path.
    static func parse(path: String) -> (group: String, version: String, namespace: String?, plural: String)? {
        var parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let group: String
        let version: String
        if parts.count >= 2, parts[0] == "api" {
            group = ""
            version = parts[1]
            parts.removeFirst(2)
        } else if parts.count >= 3, parts[0] == "apis" {
            group = parts[1]
            version = parts[2]
            parts.removeFirst(3)
        } else {
            return nil
        }
        switch parts.count {
        case 1: return (group, version, nil, parts[0])
        case 3 where parts[0] == "namespaces": return (group, version, parts[1], parts[2])
        default: return nil
        }
    }
}
