import Mesh
import NetworkTopology
import Testing

@testable import NetSim

/// What a user who gets a TLS setting wrong is told, before any connection is tried.
@Suite struct KubernetesTLSConfigurationTests {
    @Test func aCABundleThatIsNotPEMNamesTheCertificateAuthority() {
        #expect {
            _ = try KubernetesTLSConfiguration(certificateAuthorityPEM: Array("not a certificate".utf8))
        } throws: { error in
            guard case KubernetesTLSError.unreadablePEM(.certificateAuthority, _) = error else { return false }
            return "\(error)".hasPrefix("certificate-authority is not a readable PEM certificate")
        }
    }

    @Test func aClientCertificateWithoutItsKeyIsRefused() {
        #expect(throws: KubernetesTLSError.incompleteClientIdentity(missing: .clientKey)) {
            _ = try KubernetesTLSConfiguration(
                certificateAuthorityPEM: KubernetesTLSFixtures.certificateAuthority,
                clientCertificatePEM: KubernetesTLSFixtures.clientCertificate)
        }
        #expect(throws: KubernetesTLSError.incompleteClientIdentity(missing: .clientCertificate)) {
            _ = try KubernetesTLSConfiguration(certificateAuthorityPEM: nil, clientKeyPEM: KubernetesTLSFixtures.clientKey)
        }
    }

    @Test func aKeyThatDoesNotBelongToTheCertificateIsRefusedWhenTheContextIsMade() throws {
        let configuration = try KubernetesTLSConfiguration(
            certificateAuthorityPEM: KubernetesTLSFixtures.certificateAuthority,
            clientCertificatePEM: KubernetesTLSFixtures.clientCertificate, clientKeyPEM: KubernetesTLSFixtures.serverKey)
        #expect {
            _ = try configuration.makeContext()
        } throws: { error in
            guard case KubernetesTLSError.contextRejected = error else { return false }
            return true
        }
    }

    @Test func aClientWithBadTLSSettingsFailsEveryRequestWithTheReason() throws {
        let sim = try KubernetesAPITests.cloudAndEdge(loss: 0)
        let edge = sim.host(named: "edge-1")!
        let configuration = try KubernetesTLSConfiguration(
            certificateAuthorityPEM: KubernetesTLSFixtures.certificateAuthority,
            clientCertificatePEM: KubernetesTLSFixtures.clientCertificate, clientKeyPEM: KubernetesTLSFixtures.serverKey)
        let client = KubernetesAPIClient(
            host: edge, endpoint: KubernetesAPIEndpoint(url: "https://10.0.0.2:6443")!, options: .init(tls: configuration))
        var failure: (any Error)?
        client.list(.services).whenFailure { failure = $0 }
        sim.run(until: Nanoseconds.second)
        guard case KubernetesAPIError.tlsConfiguration(.contextRejected)? = failure else {
            Issue.record("expected tlsConfiguration(contextRejected), got \(String(describing: failure))")
            return
        }
    }
}
