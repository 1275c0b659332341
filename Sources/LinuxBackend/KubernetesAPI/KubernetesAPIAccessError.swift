import Mesh

/// Why the agent cannot set up its connection to the Kubernetes API, and what to fix.
public enum KubernetesAPIAccessError: Error, Sendable, CustomStringConvertible {
    case unreadableFile(path: String, what: String, reason: String)
    case kubeconfig(path: String, KubeconfigError)
    case tls(KubernetesTLSError)
    /// In-cluster mode outside a pod: the variable Kubernetes sets in every pod is missing.
    case notInCluster(missing: String)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let what, let reason): "cannot read \(what) at \(path): \(reason)"
        case .kubeconfig(let path, let error): "\(path): \(error)"
        case .tls(let error): "TLS settings for the API server: \(error)"
        case .notInCluster(let missing):
            "in-cluster mode needs \(missing), which Kubernetes sets in every pod; outside a pod use --kubeconfig or --master"
        }
    }
}
