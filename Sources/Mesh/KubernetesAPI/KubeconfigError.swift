/// Why a kubeconfig could not be used, naming the field (in kubectl's spelling) that was wrong.
public enum KubeconfigError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalid(field: String, reason: String)
    /// A credential kind this client cannot provide; use a token or a client certificate instead.
    case unsupported(field: String)

    public var description: String {
        switch self {
        case .invalid(let field, let reason): "invalid kubeconfig: \(field): \(reason)"
        case .unsupported(let field):
            "invalid kubeconfig: \(field) is not supported by edgemesh; give the user a token, tokenFile or client-certificate/client-key instead"
        }
    }
}
