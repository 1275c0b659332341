import Foundation
import LinuxBackend
import Logging
import Mesh
import NIOCore
import NIOPosix
import NIOSSL
@testable import Scenario
import Testing

/// The agent's kubeconfig path to an https API server, over real sockets on 127.0.0.1: the
/// kubeconfig and the certificate files it names are read by `KubernetesAPIAccess`, the server
/// demands the cluster's client certificate and a bearer token. Every wait is bounded.
@Suite("Kubernetes API over TLS on loopback")
struct KubernetesTLSLoopbackTests {
    private static let timeout = TimeAmount.seconds(10)

    final class Bed: @unchecked Sendable {
        let group = LinuxEventLoops.makeGroup()
        let directory: URL
        let certificates: KubernetesTestCertificates
        let host: LinuxHost
        let server: KubernetesTestAPIServer
        let port: Int

        /// `requiresClientCertificate` false: the server checks only the token, as an API server does for pods.
        init(requiresClientCertificate: Bool = true) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("edgemesh-k8stls-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            certificates = try KubernetesTestCertificates(in: directory)
            let loop = group.next()
            host = LinuxHost(
                name: "edge-1", eventLoop: loop, storeDirectory: directory.appendingPathComponent("state").path,
                interception: UnusedInterception(eventLoop: loop), logger: Logger(label: "edgemesh.test"))
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMBytes(certificates.bytes(certificates.serverCertificate)).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: certificates.bytes(certificates.serverKey), format: .pem)))
            if requiresClientCertificate {
                tls.certificateVerification = .noHostnameVerification
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(certificates.bytes(certificates.caCertificate)))
            }
            let server = KubernetesTestAPIServer(
                host: host, configuration: .init(address: .loopback, port: 0, requiredBearerToken: "t0ken", tls: try NIOSSLContext(configuration: tls)))
            self.server = server
            let listener = try KubernetesTLSLoopbackTests.wait(loop.flatSubmit { server.start() })
            port = listener.localAddress!.port!
            try KubernetesTLSLoopbackTests.wait(loop.submit {
                try server.create(.services, json: Array(#"{"metadata":{"name":"web"},"spec":{"clusterIP":"10.96.0.5"}}"#.utf8))
            })
        }

        func kubeconfig(_ name: String, cluster: String, user: String) throws -> String {
            let text = """
                apiVersion: v1
                kind: Config
                preferences: {}
                current-context: edge
                contexts:
                - name: elsewhere
                  context: {cluster: nowhere, user: nobody}
                - name: edge
                  context: {cluster: test, user: node, namespace: default}
                clusters:
                - name: test
                  cluster:
                \(cluster)
                users:
                - name: node
                  user:
                \(user)
                """
            let url = directory.appendingPathComponent(name)
            try text.write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }

        /// Lists services through a client built from `access`; the body or the error.
        func list(with access: KubernetesAPIAccess) throws -> Result<String, any Error> {
            let host = self.host
            let listed = host.eventLoop.flatSubmit { access.makeClient(host: host).list(.services) }
            do { return .success(String(buffer: try KubernetesTLSLoopbackTests.wait(listed))) } catch { return .failure(error) }
        }

        /// Call from the test (never from the loop): stops the server and the loop, removes the files.
        func close() {
            let server = self.server
            _ = try? host.eventLoop.submit { server.stop() }.wait()
            try? LinuxEventLoops.syncShutdown(group)
            try? FileManager.default.removeItem(at: directory)
        }
    }

    @Test(.enabled(if: KubernetesTestCertificates.openSSLAvailable, "needs /usr/bin/openssl to make test certificates"))
    func aKubeconfigWithCertificateFilesReachesAServerThatDemandsAClientCertificate() throws {
        let bed = try Bed()
        defer { bed.close() }
        let path = try bed.kubeconfig("kubeconfig", cluster: """
                server: https://127.0.0.1:\(bed.port)
                certificate-authority: ca.crt
            """, user: """
                token: t0ken
                client-certificate: client.crt
                client-key: \(bed.certificates.clientKey.path)
            """)
        let access = try KubernetesAPIAccess.loadKubeconfig(path: path)
        #expect(access.origin.contains("context edge"))
        let body = try bed.list(with: access).get()
        #expect(body.contains(#""name":"web""#))
    }

    @Test(.enabled(if: KubernetesTestCertificates.openSSLAvailable, "needs /usr/bin/openssl to make test certificates"))
    func inlineDataAndATokenFileWorkAsWellAsFiles() throws {
        let bed = try Bed()
        defer { bed.close() }
        try "t0ken\n".write(to: bed.directory.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        func base64(_ file: URL) throws -> String { try Data(contentsOf: file).base64EncodedString() }
        let path = try bed.kubeconfig("kubeconfig-data", cluster: """
                server: https://localhost:\(bed.port)
                certificate-authority-data: \(try base64(bed.certificates.caCertificate))
            """, user: """
                tokenFile: token
                client-certificate-data: \(try base64(bed.certificates.clientCertificate))
                client-key-data: \(try base64(bed.certificates.clientKey))
            """)
        let body = try bed.list(with: try KubernetesAPIAccess.loadKubeconfig(path: path)).get()
        #expect(body.contains(#""name":"web""#))
    }

    @Test(.enabled(if: KubernetesTestCertificates.openSSLAvailable, "needs /usr/bin/openssl to make test certificates"))
    func withoutTheClientCertificateTheHandshakeFailsAndNothingIsServed() throws {
        let bed = try Bed()
        defer { bed.close() }
        let path = try bed.kubeconfig("kubeconfig-token-only", cluster: """
                server: https://127.0.0.1:\(bed.port)
                certificate-authority: ca.crt
            """, user: """
                token: t0ken
            """)
        let result = try bed.list(with: try KubernetesAPIAccess.loadKubeconfig(path: path))
        guard case .failure(let error) = result else {
            Issue.record("a server that demands a client certificate answered one without it")
            return
        }
        #expect("\(error)".contains("TLS") || error is KubernetesAPIError, "\(error)")
        let requests = try Self.wait(bed.host.eventLoop.submit { bed.server.requests.count })
        #expect(requests == 0)
    }

    @Test(.enabled(if: KubernetesTestCertificates.openSSLAvailable, "needs /usr/bin/openssl to make test certificates"))
    func inClusterModeReadsTheServiceAccountTokenAndCA() throws {
        let bed = try Bed(requiresClientCertificate: false)
        defer { bed.close() }
        let tokenPath = bed.directory.appendingPathComponent("sa-token").path
        try "t0ken".write(toFile: tokenPath, atomically: true, encoding: .utf8)
        let configuration = KubernetesAPIConfiguration(mode: .inCluster(
            server: KubernetesAPIEndpoint(scheme: .https, host: "127.0.0.1", port: UInt16(bed.port)),
            tokenPath: tokenPath, caPath: bed.certificates.caCertificate.path))
        let access = try KubernetesAPIAccess.load(configuration)
        #expect(access.options.bearerToken == "t0ken")
        let body = try bed.list(with: access).get()
        #expect(body.contains(#""name":"web""#))
        let authorization = try Self.wait(bed.host.eventLoop.submit { bed.server.requests.last?.headers["Authorization"] })
        #expect(authorization == ["Bearer t0ken"])
    }

    static func wait<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
        let promise = future.eventLoop.makePromise(of: T.self)
        let timer = future.eventLoop.scheduleTask(in: timeout) { promise.fail(TLSLoopbackWaitTimedOut()) }
        future.whenComplete { result in
            timer.cancel()
            promise.completeWith(result)
        }
        return try promise.futureResult.wait()
    }
}

private struct TLSLoopbackWaitTimedOut: Error {}

private struct UnusedInterception: TrafficInterception {
    let eventLoop: EventLoop

    func apply(_ rules: [InterceptionRule]) -> EventLoopFuture<Void> {
        eventLoop.makeFailedFuture(HostError.unsupported("interception in KubernetesTLSLoopbackTests"))
    }

    func removeAll() -> EventLoopFuture<Void> { eventLoop.makeSucceededVoidFuture() }
}
