import Yams

/// How the agent reaches the Kubernetes API, as EdgeMesh's `kubeAPIConfig` section says it:
///
///     kubeAPIConfig:
///       master: ""            # API server URL; wins over kubeConfig
///       kubeConfig: ""        # path of a kubeconfig file
///       metaServer:
///         server: http://127.0.0.1:10550
///       qps: 100
///       burst: 200
///
/// With neither `master` nor `kubeConfig` the agent uses the metaServer (edge mode). Reading
/// token, CA and kubeconfig files belongs to the Linux side; this only says which to read.
public struct KubernetesAPIConfiguration: Hashable, Sendable {
    public enum Mode: Hashable, Sendable {
        /// KubeEdge's metaServer on the node.
        case edge(metaServer: KubernetesAPIEndpoint)
        /// Inside a pod: the API server's address plus the service-account token and CA files.
        case inCluster(server: KubernetesAPIEndpoint, tokenPath: String, caPath: String)
        /// A kubeconfig file (its server and token are read by the Linux side).
        case kubeconfig(path: String)
        /// An explicit server URL, with an optional bearer token.
        case server(KubernetesAPIEndpoint, bearerToken: String?)
    }

    public static let serviceAccountTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    public static let serviceAccountCAPath = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"

    public var mode: Mode
    /// Client-side request rate limit, as EdgeMesh passes it to client-go.
    public var qps: Double
    public var burst: Int

    public init(mode: Mode = .edge(metaServer: .metaServer), qps: Double = 100, burst: Int = 200) {
        self.mode = mode
        self.qps = qps
        self.burst = burst
    }

    /// In-cluster mode for the `KUBERNETES_SERVICE_HOST`/`_PORT` values the caller read.
    public static func inCluster(serviceHost: String, servicePort: UInt16) -> KubernetesAPIConfiguration {
        KubernetesAPIConfiguration(mode: .inCluster(
            server: KubernetesAPIEndpoint(scheme: .https, host: serviceHost, port: servicePort),
            tokenPath: serviceAccountTokenPath, caPath: serviceAccountCAPath))
    }

    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { "invalid kubeAPIConfig: \(message)" }
    }

    /// Reads the `kubeAPIConfig` section of an `edgemesh-agent.yaml` document (other sections are
    /// ignored; a missing section means edge mode with the default metaServer).
    public static func parse(agentConfigYAML yaml: String) throws(ParseError) -> KubernetesAPIConfiguration {
        let root: Yams.Node?
        do { root = try Yams.compose(yaml: yaml, Resolver.basic) } catch { throw ParseError(message: "not YAML: \(error)") }
        guard let section = root?["kubeAPIConfig"], !Self.isNull(section) else { return KubernetesAPIConfiguration() }
        guard section.mapping != nil else { throw ParseError(message: "kubeAPIConfig must be a mapping") }
        var configuration = KubernetesAPIConfiguration()
        if let qps = section["qps"], !isNull(qps) {
            guard let value = qps.float, value > 0 else { throw ParseError(message: "qps must be a positive number, not \"\(qps.string ?? "")\"") }
            configuration.qps = value
        }
        if let burst = section["burst"], !isNull(burst) {
            guard let value = burst.int, value > 0 else { throw ParseError(message: "burst must be a positive integer, not \"\(burst.string ?? "")\"") }
            configuration.burst = value
        }
        let master = section["master"]?.string ?? ""
        let kubeConfig = section["kubeConfig"]?.string ?? ""
        let metaServer = section["metaServer"]?["server"]?.string ?? ""
        if !master.isEmpty {
            guard let endpoint = KubernetesAPIEndpoint(url: master) else {
                throw ParseError(message: "master \"\(master)\" is not an http(s)://host:port URL")
            }
            configuration.mode = .server(endpoint, bearerToken: nil)
        } else if !kubeConfig.isEmpty {
            configuration.mode = .kubeconfig(path: kubeConfig)
        } else if !metaServer.isEmpty {
            guard let endpoint = KubernetesAPIEndpoint(url: metaServer) else {
                throw ParseError(message: "metaServer.server \"\(metaServer)\" is not an http(s)://host:port URL")
            }
            configuration.mode = .edge(metaServer: endpoint)
        }
        return configuration
    }

    private static func isNull(_ node: Yams.Node) -> Bool {
        node.scalar.map { ["", "~", "null"].contains($0.string) && $0.style == .plain } ?? false
    }
}
