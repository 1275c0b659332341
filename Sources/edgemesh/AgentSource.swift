import LinuxBackend
import Mesh

/// Where the agent learns services from: a manifest directory, or a Kubernetes API server in
/// one of EdgeMesh's connection modes.
enum AgentSource: Sendable, CustomStringConvertible {
    case manifests(directory: String)
    case kubernetesAPI(KubernetesAPIConfiguration)

    var description: String {
        switch self {
        case .manifests(let directory): return "manifests \(directory)"
        case .kubernetesAPI(let configuration):
            let mode = switch configuration.mode {
            case .edge(let metaServer): "metaServer \(metaServer)"
            case .inCluster(let server, _, _): "in-cluster \(server)"
            case .kubeconfig(let path): "kubeconfig \(path)"
            case .server(let endpoint, _): "master \(endpoint)"
            }
            return "\(mode) (qps \(configuration.qps), burst \(configuration.burst))"
        }
    }
}
