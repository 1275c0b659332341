import Mesh
import NIOCore
import NIOEmbedded
import Testing

/// A gateway follows Secrets for its servers' certificates. It must hold no more of them than
/// it can use, and write none to disk unless its operator asks: a node's disk (a hostPath) is
/// the easiest place to steal a cluster's secrets from.
@Suite struct SecretRetentionTests {
    static func secret(_ name: String, namespace: String = "edge", type: String?) -> KubernetesObject {
        .secret(Secret(metadata: ObjectMeta(name: name, namespace: namespace), type: type, data: ["tls.crt": [1], "tls.key": [2]]))
    }

    static func gateway(credential: String, namespace: String = "edge") throws -> KubernetesObject {
        let set = ManifestSet(files: ["gw.yaml": """
            apiVersion: networking.istio.io/v1beta1
            kind: Gateway
            metadata: {name: gw, namespace: \(namespace)}
            spec:
              servers:
              - port: {number: 443, name: https, protocol: HTTPS}
                hosts: ["*"]
                tls: {mode: SIMPLE, credentialName: \(credential)}
            """])
        #expect(set.problems.isEmpty, "\(set.problems)")
        return try #require(set.objects[.gateway]?.first)
    }

    @Test func onlyTLSSecretsAreHeld() {
        let table = ServiceTable(eventLoop: EmbeddedEventLoop())
        table.apply(.upsert(Self.secret("db-password", type: "Opaque")))
        table.apply(.upsert(Self.secret("token", type: nil)))
        table.apply(.upsert(Self.secret("web-cert", type: Secret.tlsType)))
        #expect(table.objects(of: .secret).compactMap { $0.tableKey?.name } == ["web-cert"])
        table.apply(.replaceAll(kind: .secret, objects: [Self.secret("sa-token", type: "kubernetes.io/service-account-token"), Self.secret("api-cert", type: Secret.tlsType)]))
        #expect(table.objects(of: .secret).compactMap { $0.tableKey?.name } == ["api-cert"])
    }

    @Test func theSnapshotHoldsNoSecretUnlessAskedAndThenOnlyTheGatewaysOwn() throws {
        let table = ServiceTable(eventLoop: EmbeddedEventLoop())
        table.apply(.upsert(try Self.gateway(credential: "web-cert")))
        table.apply(.upsert(Self.secret("web-cert", type: Secret.tlsType)))
        table.apply(.upsert(Self.secret("other-cert", type: Secret.tlsType)))
        table.apply(.upsert(Self.secret("web-cert", namespace: "elsewhere", type: Secret.tlsType)))
        #expect(table.snapshot().secrets.isEmpty, "no secret reaches the disk by default")
        let kept = table.snapshot(includingSecrets: true).secrets.map(\.key)
        #expect(kept == [ObjectKey(namespace: "edge", name: "web-cert")], "only a Gateway's credentialName, in its namespace")
    }
}
