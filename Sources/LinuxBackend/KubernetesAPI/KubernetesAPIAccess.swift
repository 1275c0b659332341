import Foundation
import Mesh
import NIOCore

/// Everything needed to open a `KubernetesAPIClient`: the endpoint plus the token and TLS
/// material read from the files a connection mode names.
///
/// This is where the agent's files are read (Mesh reads none): the service-account token and
/// CA in a pod, a kubeconfig and the files it points to. Token files are read at start-up, then
/// again as they rotate (`RotatingTokenFile`).
public struct KubernetesAPIAccess: Sendable {
    public var endpoint: KubernetesAPIEndpoint
    public var options: KubernetesAPIClient.Options
    /// Where the settings came from, for the start-up line: "metaServer", "in-cluster", "kubeconfig ...".
    public var origin: String

    public init(endpoint: KubernetesAPIEndpoint, options: KubernetesAPIClient.Options = .init(), origin: String) {
        self.endpoint = endpoint
        self.options = options
        self.origin = origin
    }

    /// Reads what `configuration`'s mode needs; requests are limited to its qps and burst.
    public static func load(_ configuration: KubernetesAPIConfiguration) throws(KubernetesAPIAccessError) -> KubernetesAPIAccess {
        var access = try loadMode(configuration.mode)
        access.options.rateLimit = KubernetesRateLimiter.Limit(qps: configuration.qps, burst: configuration.burst)
        return access
    }

    private static func loadMode(_ mode: KubernetesAPIConfiguration.Mode) throws(KubernetesAPIAccessError) -> KubernetesAPIAccess {
        switch mode {
        case .edge(let metaServer):
            return KubernetesAPIAccess(endpoint: metaServer, origin: "metaServer \(metaServer)")
        case .server(let endpoint, let bearerToken):
            return KubernetesAPIAccess(endpoint: endpoint, options: .init(bearerToken: bearerToken), origin: "master \(endpoint)")
        case .inCluster(let server, let tokenPath, let caPath):
            let token = try readText(tokenPath, what: "the service-account token")
            let ca = try readBytes(caPath, what: "the service-account CA")
            let tls = try tlsConfiguration { () throws(KubernetesTLSError) in try KubernetesTLSConfiguration(certificateAuthorityPEM: ca) }
            var options = KubernetesAPIClient.Options(bearerToken: token, tls: tls)
            let rotating = RotatingTokenFile(path: tokenPath, initial: token)
            options.bearerTokenSource = { rotating.current() }
            return KubernetesAPIAccess(endpoint: server, options: options, origin: "in-cluster \(server)")
        case .kubeconfig(let path):
            return try loadKubeconfig(path: path)
        }
    }

    /// In-cluster mode from the environment a pod gets (`KUBERNETES_SERVICE_HOST`/`_PORT`).
    public static func inClusterConfiguration(environment: [String: String]) throws(KubernetesAPIAccessError) -> KubernetesAPIConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else { throw .notInCluster(missing: "KUBERNETES_SERVICE_HOST") }
        guard let portText = environment["KUBERNETES_SERVICE_PORT"], let port = UInt16(portText), port > 0 else {
            throw .notInCluster(missing: "KUBERNETES_SERVICE_PORT")
        }
        return .inCluster(serviceHost: host, servicePort: port)
    }

    /// `path`'s current context: server, CA or insecure-skip-tls-verify, token or tokenFile, client certificate.
    public static func loadKubeconfig(path: String, context: String? = nil) throws(KubernetesAPIAccessError) -> KubernetesAPIAccess {
        let text = try readText(path, what: "the kubeconfig")
        let kubeconfig: Kubeconfig
        do { kubeconfig = try Kubeconfig(yaml: text, directory: (path as NSString).deletingLastPathComponent, context: context) } catch {
            throw .kubeconfig(path: path, error)
        }
        var token = kubeconfig.token
        var rotating: RotatingTokenFile?
        if token == nil, let tokenFile = kubeconfig.tokenFile {
            let text = try readText(tokenFile, what: "the kubeconfig user's tokenFile")
            token = text
            rotating = RotatingTokenFile(path: tokenFile, initial: text)
        }
        var options = KubernetesAPIClient.Options(bearerToken: token)
        if let rotating { options.bearerTokenSource = { rotating.current() } }
        if kubeconfig.endpoint.scheme == .https {
            let ca = try kubeconfig.certificateAuthority.map { material throws(KubernetesAPIAccessError) in try bytes(of: material, what: "certificate-authority") }
            let certificate = try kubeconfig.clientCertificate.map { material throws(KubernetesAPIAccessError) in try bytes(of: material, what: "client-certificate") }
            let key = try kubeconfig.clientKey.map { material throws(KubernetesAPIAccessError) in try bytes(of: material, what: "client-key") }
            options.tls = try tlsConfiguration { () throws(KubernetesTLSError) in
                try KubernetesTLSConfiguration(
                    certificateAuthorityPEM: ca, clientCertificatePEM: certificate, clientKeyPEM: key,
                    serverName: kubeconfig.tlsServerName, skipsVerification: kubeconfig.insecureSkipTLSVerify)
            }
        }
        return KubernetesAPIAccess(
            endpoint: kubeconfig.endpoint, options: options, origin: "kubeconfig \(path) (context \(kubeconfig.contextName))")
    }

    /// A client on `host` with these settings.
    public func makeClient(host: any Mesh.Host) -> KubernetesAPIClient {
        KubernetesAPIClient(host: host, endpoint: endpoint, options: options, resolver: KubernetesAPIAccess.resolve)
    }

    /// IPv4 literals as they are, other names through the system resolver (the API server is
    /// often named: `kubernetes.default.svc`, a load balancer's DNS name). Called once per
    /// connection, on the agent's loop; a slow resolver delays only that connection attempt.
    @Sendable static func resolve(_ name: String) -> IPv4Address? {
        if let literal = IPv4Address(name) { return literal }
        if name == "localhost" { return .loopback }
        let addresses = try? SocketAddress.makeAddressResolvingHost(name, port: 0)
        guard case .v4(let address)? = addresses else { return nil }
        return IPv4Address(address.host)
    }

    private static func bytes(of material: Kubeconfig.Material, what: String) throws(KubernetesAPIAccessError) -> [UInt8] {
        switch material {
        case .inline(let bytes): bytes
        case .file(let path): try readBytes(path, what: "the kubeconfig's \(what)")
        }
    }

    private static func tlsConfiguration(_ make: () throws(KubernetesTLSError) -> KubernetesTLSConfiguration) throws(KubernetesAPIAccessError) -> KubernetesTLSConfiguration {
        do { return try make() } catch { throw .tls(error) }
    }

    private static func readBytes(_ path: String, what: String) throws(KubernetesAPIAccessError) -> [UInt8] {
        do { return Array(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "not readable (\((error as NSError).localizedDescription))" : "no such file"
            throw .unreadableFile(path: path, what: what, reason: reason)
        }
    }

    private static func readText(_ path: String, what: String) throws(KubernetesAPIAccessError) -> String {
        let text = String(decoding: try readBytes(path, what: what), as: UTF8.self)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
