import Foundation
import LinuxBackend
import Mesh
import Testing

/// What an operator with a wrong kubeconfig or missing pod files is told: the field or file.
@Suite struct KubeconfigErrorTests {
    static func load(_ yaml: String) throws -> KubernetesAPIAccess {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("edgemesh-kubeconfig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("config").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return try KubernetesAPIAccess.loadKubeconfig(path: path)
    }

    static func message(_ yaml: String) -> String {
        do {
            _ = try load(yaml)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    static let cluster = "clusters: [{name: c, cluster: {server: 'http://10.0.0.1:8080'}}]"

    @Test func aPlainHTTPContextNeedsNoTLSAndKeepsTheToken() throws {
        let access = try Self.load("""
            current-context: x
            contexts: [{name: x, context: {cluster: c, user: u}}]
            \(Self.cluster)
            users: [{name: u, user: {token: abc}}]
            """)
        #expect(access.endpoint == KubernetesAPIEndpoint(host: "10.0.0.1", port: 8080))
        #expect(access.options.bearerToken == "abc")
        #expect(access.options.tls == nil)
    }

    @Test func noCurrentContextIsNamed() {
        #expect(Self.message("contexts: []\n\(Self.cluster)").contains("current-context"))
    }

    @Test func aContextPointingAtAMissingClusterNamesTheCluster() {
        let message = Self.message("""
            current-context: x
            contexts: [{name: x, context: {cluster: gone}}]
            \(Self.cluster)
            """)
        #expect(message.contains("clusters: no entry named \"gone\""), "\(message)")
    }

    @Test func anExecPluginIsRefusedByName() {
        let message = Self.message("""
            current-context: x
            contexts: [{name: x, context: {cluster: c, user: u}}]
            \(Self.cluster)
            users: [{name: u, user: {exec: {command: aws}}}]
            """)
        #expect(message.contains("users[u].user.exec is not supported"), "\(message)")
    }

    @Test func badBase64NamesTheDataField() {
        let message = Self.message("""
            current-context: x
            contexts: [{name: x, context: {cluster: c}}]
            clusters: [{name: c, cluster: {server: 'https://10.0.0.1', certificate-authority-data: '!!!'}}]
            """)
        #expect(message.contains("clusters[c].cluster.certificate-authority-data: not base64"), "\(message)")
    }

    @Test func aMissingCertificateFileIsNamedWithItsPath() {
        let message = Self.message("""
            current-context: x
            contexts: [{name: x, context: {cluster: c}}]
            clusters: [{name: c, cluster: {server: 'https://10.0.0.1', certificate-authority: /nonexistent/ca.crt}}]
            """)
        #expect(message.contains("/nonexistent/ca.crt"), "\(message)")
        #expect(message.contains("certificate-authority"), "\(message)")
    }

    @Test func inClusterModeOutsideAPodSaysWhatIsMissing() {
        #expect(throws: (any Error).self) { try KubernetesAPIAccess.inClusterConfiguration(environment: [:]) }
        let configuration = try? KubernetesAPIAccess.inClusterConfiguration(
            environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"])
        guard case .inCluster(let server, let tokenPath, _)? = configuration?.mode else {
            Issue.record("expected in-cluster mode")
            return
        }
        #expect(server.description == "https://10.96.0.1:443")
        #expect(tokenPath == "/var/run/secrets/kubernetes.io/serviceaccount/token")
        do {
            _ = try KubernetesAPIAccess.load(KubernetesAPIConfiguration(mode: .inCluster(
                server: server, tokenPath: "/nonexistent/token", caPath: "/nonexistent/ca.crt")))
            Issue.record("a missing token file must be an error")
        } catch {
            #expect("\(error)".contains("service-account token at /nonexistent/token"), "\(error)")
        }
    }
}
