import Mesh
import NIOCore
import NIOSSL
import NetworkTopology
@testable import Scenario
import Testing

@testable import NetSim

/// The API client over https on a simulated network: the same NIOSSL handlers as on Linux,
/// carried by NetSim's channels, against the test API server wrapped in TLS.
@Suite struct KubernetesTLSTests {
    static let s = Nanoseconds.second
    static let serverName = "kubernetes.default.svc"

    /// The server's TLS context; `requiresClientCertificate` makes it demand one signed by the cluster CA.
    static func serverContext(rogue: Bool = false, requiresClientCertificate: Bool = false) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMBytes(rogue ? KubernetesTLSFixtures.rogueServerCertificate : KubernetesTLSFixtures.serverCertificate)
        let key = try NIOSSLPrivateKey(bytes: rogue ? KubernetesTLSFixtures.rogueServerKey : KubernetesTLSFixtures.serverKey, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        if requiresClientCertificate {
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(KubernetesTLSFixtures.certificateAuthority))
        }
        return try NIOSSLContext(configuration: configuration)
    }

    static func clusterTrust(clientCertificate: Bool = false, serverName: String? = nil) throws -> KubernetesTLSConfiguration {
        try KubernetesTLSConfiguration(
            certificateAuthorityPEM: KubernetesTLSFixtures.certificateAuthority,
            clientCertificatePEM: clientCertificate ? KubernetesTLSFixtures.clientCertificate : nil,
            clientKeyPEM: clientCertificate ? KubernetesTLSFixtures.clientKey : nil,
            serverName: serverName)
    }

    struct Harness {
        let sim: Simulator
        let server: KubernetesTestAPIServer
        let reflector: KubernetesReflector<Service>
        let mirror: ReflectorMirror
    }

    /// The API server on the cloud LAN at https://kubernetes.default.svc:6443, the client on the edge node.
    static func harness(server configuration: KubernetesTestAPIServer.Configuration, options: KubernetesAPIClient.Options) throws -> Harness {
        let sim = try KubernetesAPITests.cloudAndEdge(loss: 0.02)
        let api = sim.host(named: "api")!, edge = sim.host(named: "edge-1")!
        let server = KubernetesTestAPIServer(host: api, configuration: configuration)
        _ = server.start()
        let apiAddress = api.address
        let client = KubernetesAPIClient(
            host: edge, endpoint: KubernetesAPIEndpoint(scheme: .https, host: serverName, port: configuration.port), options: options,
            resolver: { $0 == serverName ? apiAddress : nil })
        let mirror = ReflectorMirror()
        let reflector = KubernetesReflector<Service>(
            client: client, resource: .services, onReplace: { mirror.replace($0) }, onEvent: { mirror.apply($0) })
        return Harness(sim: sim, server: server, reflector: reflector, mirror: mirror)
    }

    @Test func aReflectorFollowsAnHTTPSServerVerifiedByTheClusterCAWithABearerToken() throws {
        let h = try Self.harness(
            server: .init(requiredBearerToken: "node-token", tls: Self.serverContext()),
            options: .init(bearerToken: "node-token", tls: Self.clusterTrust()))
        try h.server.create(.services, json: KubernetesAPITests.service("web"))
        h.reflector.start()
        _ = h.sim.run(until: 20 * Self.s) { h.reflector.status.phase != .watching }
        try h.server.create(.services, json: KubernetesAPITests.service("db", namespace: "data", port: 5432))
        try h.server.delete(.services, namespace: "default", name: "web")
        _ = h.sim.run(until: 60 * Self.s) { h.mirror.view != KubernetesAPITests.serverView(h.server) }
        #expect(h.mirror.view == ["data/db@2"])
        #expect(h.mirror.events == ["ADDED db", "DELETED web"])
        #expect(h.server.requests.allSatisfy { $0.headers["Authorization"] == ["Bearer node-token"] })
    }

    @Test func aPatchTravelsWithTheSameTLSClientCertificateAndTokenAsTheWatch() throws {
        let h = try Self.harness(
            server: .init(requiredBearerToken: "node-token", tls: Self.serverContext(requiresClientCertificate: true)),
            options: .init(bearerToken: "node-token", tls: Self.clusterTrust(clientCertificate: true)))
        try h.server.create(.nodes, json: KubernetesPatchTests.node("edge-1"))
        let patch = KubernetesPatchTests.keyPatch(KubernetesPatchTests.key)
        let answer = try KubernetesPatchTests.await(h.reflector.client.patch(.nodes, name: "edge-1", patch: patch), in: h.sim).get()
        #expect(try KubernetesDecoder.decode(Node.self, json: answer).metadata.annotations[tunnelPublicKeyAnnotation] == KubernetesPatchTests.key)
        #expect(h.server.requests.map(\.method) == [.PATCH])
        #expect(h.server.requests.allSatisfy { $0.headers["Authorization"] == ["Bearer node-token"] })

        // Without the client certificate the server never sees the patch, and the error says TLS.
        let anonymous = try Self.harness(
            server: .init(port: 6444, requiredBearerToken: "node-token", tls: Self.serverContext(requiresClientCertificate: true)),
            options: .init(bearerToken: "node-token", tls: Self.clusterTrust()))
        try anonymous.server.create(.nodes, json: KubernetesPatchTests.node("edge-1"))
        let refused = try KubernetesPatchTests.await(anonymous.reflector.client.patch(.nodes, name: "edge-1", patch: patch), in: anonymous.sim)
        guard case .failure(KubernetesPatchError.unreachable(let reason)) = refused else { Issue.record("\(refused)"); return }
        #expect(reason.contains("TLS"), "\(reason)")
        #expect(anonymous.server.requests.isEmpty)
    }

    @Test func aServerCertificateFromAnotherCAIsRefused() throws {
        let h = try Self.harness(
            server: .init(tls: Self.serverContext(rogue: true)), options: .init(tls: Self.clusterTrust()))
        try h.server.create(.services, json: KubernetesAPITests.service("web"))
        h.reflector.start()
        h.sim.run(until: 30 * Self.s)
        #expect(h.mirror.replaces == 0)
        #expect(h.server.requests.isEmpty, "no request may be sent to an unverified server")
        let error = try #require(h.reflector.status.lastError)
        #expect(error.contains("TLS handshake"), "\(error)")
    }

    @Test func aCertificateForAnotherNameIsRefused() throws {
        let h = try Self.harness(
            server: .init(tls: Self.serverContext()), options: .init(tls: Self.clusterTrust(serverName: "api.example.org")))
        try h.server.create(.services, json: KubernetesAPITests.service("web"))
        h.reflector.start()
        h.sim.run(until: 30 * Self.s)
        #expect(h.mirror.replaces == 0)
        #expect(h.server.requests.isEmpty)
        #expect(h.reflector.status.lastError?.contains("api.example.org") == true, "\(h.reflector.status)")
    }

    @Test func aServerThatDemandsAClientCertificateAcceptsOnlyTheNodeWithOne() throws {
        let without = try Self.harness(
            server: .init(tls: Self.serverContext(requiresClientCertificate: true)), options: .init(tls: Self.clusterTrust()))
        try without.server.create(.services, json: KubernetesAPITests.service("web"))
        without.reflector.start()
        without.sim.run(until: 30 * Self.s)
        #expect(without.mirror.replaces == 0)
        #expect(without.server.requests.isEmpty)

        let with = try Self.harness(
            server: .init(tls: Self.serverContext(requiresClientCertificate: true)),
            options: .init(tls: Self.clusterTrust(clientCertificate: true)))
        try with.server.create(.services, json: KubernetesAPITests.service("web"))
        with.reflector.start()
        _ = with.sim.run(until: 30 * Self.s) { with.mirror.view != KubernetesAPITests.serverView(with.server) }
        #expect(with.mirror.view == ["default/web@1"])
    }

    @Test func aPlainHTTPClientGetsNoAnswerFromAnHTTPSServer() throws {
        let sim = try KubernetesAPITests.cloudAndEdge(loss: 0)
        let api = sim.host(named: "api")!, edge = sim.host(named: "edge-1")!
        let server = KubernetesTestAPIServer(host: api, configuration: .init(tls: try Self.serverContext()))
        _ = server.start()
        try server.create(.services, json: KubernetesAPITests.service("web"))
        let client = KubernetesAPIClient(
            host: edge, endpoint: KubernetesAPIEndpoint(host: api.address.description, port: 6443),
            options: .init(requestTimeout: .seconds(5)))
        let listed = client.list(.services)
        sim.run(until: 20 * Self.s)
        var failed = false
        listed.whenFailure { _ in failed = true }
        #expect(failed)
        #expect(server.requests.isEmpty)
    }
}
