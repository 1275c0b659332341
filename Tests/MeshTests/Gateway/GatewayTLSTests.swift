import Testing

@testable import Mesh

/// HTTPS servers of the gateway: which TLS settings it terminates, and what it says about
/// certificates it cannot use.
@Suite struct GatewayTLSTests {
    static func routes(servers: [String]) throws -> GatewayRoutes {
        let gateway = try KubernetesDecoder.decode(Gateway.self, yaml: GatewayRoutesTests.gatewayYAML(servers: servers))
        return GatewayRoutes(
            gateways: [gateway], virtualServices: [], labels: IngressGateway.Configuration.defaultLabels, clusterDomain: "cluster.local")
    }

    @Test func simpleTLSWithACredentialIsTerminated() throws {
        let routes = try Self.routes(servers: [
            #"{port: {number: 443, name: https, protocol: HTTPS}, hosts: [shop.example.com], tls: {mode: SIMPLE, credentialName: shop-tls}}"#,
        ])
        #expect(routes.listeners[443]?.protocol == .https)
        #expect(routes.listeners[443]?.servers.first?.credential == ObjectKey(namespace: "shop", name: "shop-tls"),
                "the Secret is looked up in the Gateway's namespace")
        #expect(routes.problems.isEmpty)
    }

    @Test func otherTLSModesAndMissingCredentialsAreReported() throws {
        let routes = try Self.routes(servers: [
            #"{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: ISTIO_MUTUAL}}"#,
            #"{port: {number: 8443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE}}"#,
            #"{port: {number: 9443, name: tls, protocol: TLS}, hosts: ["*"], tls: {mode: SIMPLE, credentialName: a-tls}}"#,
        ])
        #expect(routes.ports.isEmpty)
        #expect(routes.problems == [
            "Gateway shop/edge-gateway port 443: HTTPS with tls.mode ISTIO_MUTUAL is not served (PASSTHROUGH is, and SIMPLE and MUTUAL for HTTPS)",
            "Gateway shop/edge-gateway port 8443: HTTPS needs tls.credentialName, the kubernetes.io/tls Secret with its certificate",
            "Gateway shop/edge-gateway port 9443: TLS with tls.mode SIMPLE is not served (PASSTHROUGH is; HTTPS ends TLS at the gateway)",
        ])
    }

    /// MUTUAL needs the CA clients' certificates chain to: without it the port is not served
    /// at all, rather than served without client certificates.
    @Test func mutualTLSWithoutACAIsNotServedAndMixingModesIsSaid() throws {
        let routes = try Self.routes(servers: [
            #"{port: {number: 443, name: a, protocol: HTTPS}, hosts: [a.example.com], tls: {mode: MUTUAL, credentialName: a-tls}}"#,
            #"{port: {number: 443, name: b, protocol: HTTPS}, hosts: [b.example.com], tls: {mode: SIMPLE, credentialName: a-tls}}"#,
        ])
        #expect(routes.listeners[443]?.protocol == .https)
        #expect(routes.problems.isEmpty)
        let withoutCA = Secret(
            metadata: ObjectMeta(name: "a-tls", namespace: "shop"), type: Secret.tlsType,
            stringData: [
                "tls.crt": String(decoding: KubernetesTLSFixtures.serverCertificate, as: UTF8.self),
                "tls.key": String(decoding: KubernetesTLSFixtures.serverKey, as: UTF8.self),
            ])
        let refused = GatewayTLSContexts(routes: routes) { $0 == withoutCA.key ? withoutCA : nil }
        #expect(refused.contexts.isEmpty)
        #expect(refused.problems == [
            "Gateway port 443: MUTUAL without a usable ca.crt; its connections are closed",
            "Gateway shop/edge-gateway port 443 credentialName a-tls: MUTUAL needs ca.crt in Secret shop/a-tls or Secret a-tls-cacert, the CA clients' certificates must chain to",
        ])
        // Istio's other place for it: a Secret of its own, named after the credential.
        let separateCA = Secret(
            metadata: ObjectMeta(name: "a-tls-cacert", namespace: "shop"),
            stringData: ["cacert": String(decoding: KubernetesTLSFixtures.certificateAuthority, as: UTF8.self)])
        let servedBySeparateCA = GatewayTLSContexts(routes: routes) { [withoutCA.key: withoutCA, separateCA.key: separateCA][$0] }
        #expect(servedBySeparateCA.contexts[443] != nil, "\(servedBySeparateCA.problems)")
        var withCA = withoutCA
        withCA.stringData["ca.crt"] = String(decoding: KubernetesTLSFixtures.certificateAuthority, as: UTF8.self)
        let served = GatewayTLSContexts(routes: routes) { $0 == withCA.key ? withCA : nil }
        #expect(served.contexts[443] != nil)
        #expect(served.problems == ["Gateway port 443: SIMPLE and MUTUAL servers share it; every client there must present a certificate"])
    }

    @Test func aMissingOrBrokenSecretIsNamed() throws {
        let routes = try Self.routes(servers: [
            #"{port: {number: 443, name: a, protocol: HTTPS}, hosts: [a.example.com], tls: {mode: SIMPLE, credentialName: a-tls}}"#,
            #"{port: {number: 443, name: b, protocol: HTTPS}, hosts: [b.example.com], tls: {mode: SIMPLE, credentialName: b-tls}}"#,
        ])
        let broken = Secret(
            metadata: ObjectMeta(name: "b-tls", namespace: "shop"), type: Secret.tlsType,
            stringData: ["tls.crt": "not a certificate", "tls.key": "nor a key"])
        let contexts = GatewayTLSContexts(routes: routes) { $0 == broken.key ? broken : nil }
        #expect(contexts.contexts.isEmpty)
        #expect(contexts.problems.count == 3, "\(contexts.problems)")
        #expect(contexts.problems.contains("Gateway shop/edge-gateway port 443 credentialName a-tls: no Secret shop/a-tls; its hosts get the port's other certificates"))
        #expect(contexts.problems.contains { $0.hasPrefix("Gateway shop/edge-gateway port 443 credentialName b-tls: Secret shop/b-tls tls.crt is not a PEM certificate bundle") })
        #expect(contexts.problems.contains("Gateway port 443: no usable certificate; its connections are closed"))
    }
}
