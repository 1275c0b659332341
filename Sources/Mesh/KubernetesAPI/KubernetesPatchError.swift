/// Why a PATCH was not applied, in words that say what to change. Only `unreachable` is worth
/// retrying as is; the others need the cluster (RBAC, the node's registration) or the request
/// to change, though a caller may keep retrying them slowly in case someone fixes the cluster.
public enum KubernetesPatchError: Error, Hashable, Sendable, CustomStringConvertible {
    /// 401: the credentials were refused.
    case unauthorized(message: String?)
    /// 403: the client's identity lacks the RBAC verb on the resource.
    case forbidden(verb: String, resource: KubernetesResource, name: String, message: String?)
    /// 404: no such object.
    case notFound(resource: KubernetesResource, name: String)
    /// 409: the object changed under a precondition of the patch.
    case conflict(resource: KubernetesResource, name: String, message: String?)
    /// 400, 405, 415 or 422: the server would not apply this patch to this object (405: it
    /// takes no PATCH there at all, as some metaServer versions).
    case rejected(code: Int, resource: KubernetesResource, name: String, message: String?)
    /// No answer (connection refused or cut, timeout, TLS), or an answer meaning "try later"
    /// (429, 5xx).
    case unreachable(reason: String)

    /// Reads a request failure as a patch failure of `name`.
    public init(_ error: any Error, resource: KubernetesResource, name: String) {
        if let error = error as? KubernetesPatchError {
            self = error
            return
        }
        guard let apiError = error as? KubernetesAPIError, case .status(let code, let status) = apiError else {
            self = .unreachable(reason: "\(error)")
            return
        }
        let message = status?.message
        switch code {
        case 401: self = .unauthorized(message: message)
        case 403: self = .forbidden(verb: "patch", resource: resource, name: name, message: message)
        case 404: self = .notFound(resource: resource, name: name)
        case 409: self = .conflict(resource: resource, name: name, message: message)
        case 400, 405, 415, 422: self = .rejected(code: code, resource: resource, name: name, message: message)
        default: self = .unreachable(reason: "\(apiError)")
        }
    }

    /// Whether the same request may succeed later without anyone changing anything.
    public var isTransient: Bool {
        switch self {
        case .unreachable, .conflict: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .unauthorized(let message):
            "401: the API server refused the credentials\(Self.quoted(message)); check the token or client certificate"
        case .forbidden(let verb, let resource, let name, let message):
            "403: the ClusterRole lacks \(verb) on \(resource.plural) (\(verb) \(resource.kind) \(name) was refused\(Self.quoted(message))); grant verb \(verb) on \(resource.plural) to the agent's ServiceAccount"
        case .notFound(let resource, let name) where resource.storageKey == KubernetesResource.nodes.storageKey:
            "404: node \"\(name)\" does not exist on the API server; is --node-name right (it must be the name `kubectl get nodes` shows)?"
        case .notFound(let resource, let name):
            "404: \(resource.kind) \(name) does not exist on the API server"
        case .conflict(let resource, let name, let message):
            "409: \(resource.kind) \(name) changed while it was patched\(Self.quoted(message)); retrying"
        case .rejected(let code, let resource, let name, let message):
            "\(code): the API server refused the patch of \(resource.kind) \(name)\(Self.quoted(message))"
        case .unreachable(let reason):
            "API server unreachable: \(reason)"
        }
    }

    private static func quoted(_ message: String?) -> String {
        guard let message, !message.isEmpty else { return "" }
        return ": \"\(message)\""
    }
}
