import Foundation
import Mesh
@testable import NetSim
@testable import Scenario
@testable import SimTestbed
import TestFixtures
import Testing

/// HTTPS pods and clients take their certificates from the scenario's Secrets, as pods mount them;
/// the mesh carries TLS without touching it, so a client's certificate checks decide the outcome.
@Suite struct HTTPSWorkloadTests {
    static let path = "\(RepositoryFiles.scenarios)/https-passthrough.yaml"

    static func scenarioText() throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    static func parse(replacing original: String, with replacement: String) throws -> Scenario {
        let text = try scenarioText()
        #expect(text.contains(original), "the case must change the scenario")
        return try ScenarioParser.parse(yaml: text.replacingOccurrences(of: original, with: replacement), source: "https.yaml")
    }

    static func rejection(replacing original: String, with replacement: String) throws -> String {
        let error = #expect(throws: ScenarioError.self) { _ = try parse(replacing: original, with: replacement) }
        return error?.description ?? ""
    }

    @Test func serversAndClientsGetTheirSecretsCertificates() throws {
        let scenario = try ScenarioParser.load(path: Self.path)
        let servers = scenario.workloads.compactMap { workload -> WorkloadSpec.ServerTLS? in
            if case .httpServer(_, _, let tls, _) = workload.kind { return tls }
            return nil
        }
        #expect(servers.count == 3)
        #expect(servers.allSatisfy { $0.secret == "default/secure-web-tls" })
        let chain = String(decoding: try #require(servers.first).certificateChainPEM, as: UTF8.self)
        #expect(chain.hasPrefix("-----BEGIN CERTIFICATE-----"))

        let trusted = scenario.workloads.compactMap { workload -> String? in
            guard case .client(let client) = workload.kind, let pem = client.trustedPEM else { return nil }
            return String(decoding: pem, as: UTF8.self)
        }
        #expect(trusted.count == 3)
        #expect(Set(trusted).count == 2, "two clients trust the cluster CA, one another CA")
        #expect(!trusted.contains(chain), "clients trust the CA, not the server's own certificate")
    }

    @Test func anUnknownSecretIsNamedWithTheOnesThatExist() throws {
        let message = try Self.rejection(
            replacing: "kind: http-server, port: 8443, tlsSecret: secure-web-tls}",
            with: "kind: http-server, port: 8443, tlsSecret: web-tls}")
        #expect(message.contains(
            "workloads[0].tlsSecret: no Secret default/web-tls among the scenario's Kubernetes objects "
                + "(Secrets: default/cluster-ca, default/rogue-ca, default/secure-web-tls)"), "\(message)")
    }

    @Test func aServerNeedsACertificateAndAKey() throws {
        let message = try Self.rejection(
            replacing: "edge-a2, kind: http-server, port: 8443, tlsSecret: secure-web-tls}",
            with: "edge-a2, kind: http-server, port: 8443, tlsSecret: default/cluster-ca}")
        #expect(message.contains("Secret default/cluster-ca needs tls.crt and tls.key (a kubernetes.io/tls Secret)"), "\(message)")
    }

    @Test func anHTTPSClientMustSayWhomItTrusts() throws {
        let missing = try Self.rejection(replacing: "caSecret: rogue-ca, ", with: "")
        #expect(missing.contains("an https client needs caSecret"), "\(missing)")

        let misplaced = try Self.rejection(replacing: "protocol: https, target: secure-web:443,\n     caSecret: rogue-ca", with: "protocol: http, target: secure-web:443,\n     caSecret: rogue-ca")
        #expect(misplaced.contains("caSecret is for https and https-keepalive clients; this one speaks http"), "\(misplaced)")
    }

    @Test func aDamagedCertificateIsReportedWithItsSecretAndKey() throws {
        let text = try Self.scenarioText()
        // The rogue CA's certificate is the last one in the file: cut its base64 body short.
        let begin = try #require(text.range(of: "-----BEGIN CERTIFICATE-----", options: .backwards))
        let end = try #require(text.range(of: "-----END CERTIFICATE-----", options: .backwards))
        let damaged = text.replacingCharacters(in: begin.upperBound..<end.lowerBound, with: "\n        AAAA\n        ")
        let error = #expect(throws: ScenarioError.self) { try ScenarioParser.parse(yaml: damaged, source: "https.yaml") }
        let message = error?.description ?? ""
        #expect(message.contains("Secret default/rogue-ca: ca.crt is not a PEM certificate bundle"), "\(message)")
    }

    /// The certificate names the service, not its cluster IP: a client that dials the address
    /// is refused by its own name check, however well the mesh carries the bytes.
    @Test func aClientDialingTheClusterIPFailsTheNameCheckInWords() throws {
        let scenario = try Self.parse(
            replacing: "target: secure-web.default.svc.cluster.local:443", with: "target: 10.96.0.30:443")
        let report = try ScenarioRunner(scenario: scenario).run()
        let byAddress = try #require(report.workloads.first { $0.name == "by-full-name" })
        #expect(byAddress.succeeded == 0)
        let reasons = byAddress.failureReasons.map(\.reason)
        #expect(reasons.contains { $0.contains("the server's certificate is not valid for the name asked for") }, "\(reasons)")
        let byName = try #require(report.workloads.first { $0.name == "by-short-name" })
        #expect(byName.succeeded == byName.attempted)
    }
}
