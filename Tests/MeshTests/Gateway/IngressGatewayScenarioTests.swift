import Foundation
import Mesh
import NIOCore
import NetworkTopology
@testable import Scenario
@testable import SimTestbed
import TestFixtures
import Testing

@testable import NetSim

/// `Scenarios/ingress-gateway.yaml`: a visitor on the internet reaches services by host and path
/// (over HTTP, and HTTPS ended at the gateway with the certificate its SNI names) through the
/// gateway node, across the tunnel to pods behind home NATs.
@Suite struct IngressGatewayScenarioTests {
    static let path = "\(RepositoryFiles.scenarios)/ingress-gateway.yaml"
    static let second = Nanoseconds.second

    static func scenario(replacing original: String? = nil, with replacement: String = "", appending extra: String = "") throws -> Scenario {
        var text = try String(contentsOfFile: path, encoding: .utf8)
        if let original {
            #expect(text.contains(original), "the case must change the scenario")
            text = text.replacingOccurrences(of: original, with: replacement)
        }
        return try ScenarioParser.parse(yaml: text + extra, source: "ingress-gateway.yaml")
    }

    @Test func routesByHostAndPathAndOpensPortsAsGatewaysChange() throws {
        let runner = try ScenarioRunner(scenario: try Self.scenario())
        var portsBefore: [UInt16]?
        var portsAfter: [UInt16]?
        var status: [String]?
        let report = try runner.run(options: .init(prepare: { simulator in
            simulator.schedule(at: 40 * Self.second) { portsBefore = runner.agent(on: "gateway-1")?.gateway?.listeningPorts }
            simulator.schedule(at: 60 * Self.second) {
                portsAfter = runner.agent(on: "gateway-1")?.gateway?.listeningPorts
                status = runner.agent(on: "gateway-1")?.status().gateway
            }
        }))
        let failed = report.verdicts.filter { !$0.passed }.map { "\($0.expectation.subject): \($0.detail)" }
        #expect(failed.isEmpty, "\(failed)")
        #expect(portsBefore == [80, 81, 443, 8443, 9000], "only the selected Gateway's ports open")
        #expect(portsAfter == [80, 81, 443, 8000, 8443, 9000], "the port added to the Gateway opens while the gateway runs")
        #expect(status?.first == "gateway kubeedge=edgemesh-gateway: listening on 80 (HTTP), 81 (HTTP), 443 (HTTPS), 8000 (HTTP), 8443 (TLS passthrough), 9000 (TCP)",
                "edgemesh status shows the ports and how each is served")
        #expect(status?.dropFirst().allSatisfy { $0.hasSuffix("of 1024 connections open") } == true, "then its connections, and no problem: \(String(describing: status))")
        let unrouted = try #require(report.workloads.first { $0.name == "unrouted-path" })
        #expect(unrouted.failureReasons.map(\.reason) == ["HTTP status 404"], "no route is a 404, not a reset")
        let redirected = try #require(report.workloads.first { $0.name == "redirected" })
        #expect(redirected.failureReasons.map(\.reason) == ["HTTP status 301"], "an httpsRedirect server answers 301")
    }

    @Test func aRequestSentToTheWrongServiceFailsTheScenario() throws {
        let scenario = try Self.scenario(
            replacing: "route: [{destination: {host: cart, port: {number: 80}}}]",
            with: "route: [{destination: {host: catalog, port: {number: 80}}}]")
        let report = try ScenarioRunner(scenario: scenario).run()
        let cart = report.verdicts.filter { $0.expectation.subject == "shop-cart" }
        #expect(cart.contains { !$0.passed && $0.detail.contains("unexpected: [\"catalog-1\"]") }, "\(cart.map(\.detail))")
    }

    /// A port another process holds is retried with backoff, shown in `edgemesh status`, and
    /// served by itself soon after it is freed, with no Gateway change to prompt it.
    @Test func aPortHeldByAnotherProcessIsTakenOnceFree() throws {
        let runner = try ScenarioRunner(scenario: try Self.scenario())
        var holder: Channel?
        var portsWhileHeld: [UInt16]?
        var statusWhileHeld: [String]?
        var portsAfterRelease: [UInt16]?
        _ = try runner.run(options: .init(prepare: { simulator in
            simulator.schedule(at: 1 * Self.second) {
                simulator.host(named: "gateway-1")?
                    .listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: 8000))) {
                        $0.eventLoop.makeSucceededVoidFuture()
                    }
                    .whenSuccess { holder = $0 }
            }
            simulator.schedule(at: 70 * Self.second) {
                portsWhileHeld = runner.agent(on: "gateway-1")?.gateway?.listeningPorts
                statusWhileHeld = runner.agent(on: "gateway-1")?.status().gateway
                holder?.close(promise: nil)
            }
            simulator.schedule(at: 100 * Self.second) {
                portsAfterRelease = runner.agent(on: "gateway-1")?.gateway?.listeningPorts
            }
        }))
        #expect(holder != nil, "the other process holds the port before the Gateway adds it (at 50 s)")
        #expect(portsWhileHeld == [80, 81, 443, 8443, 9000])
        let blocked = statusWhileHeld?.first { $0.contains("port 8000") } ?? "none"
        #expect(blocked.hasPrefix("gateway: cannot listen on port 8000 (address 0.0.0.0:8000 is already in use); trying again in "),
                "\(statusWhileHeld ?? [])")
        #expect(portsAfterRelease == [80, 81, 443, 8000, 8443, 9000], "the port opens within one backoff (≤ 30 s) of being freed")
        let added = try #require(runner.log(of: "added-port")).outcomes
        let afterRelease = added.filter { $0.startedAt >= .uptimeNanoseconds(100 * Self.second) }
        #expect(!afterRelease.isEmpty && afterRelease.allSatisfy(\.succeeded), "requests to the freed port are served")
        #expect(added.contains { !$0.succeeded }, "while held, the port answered nothing of the gateway's")
    }

    /// cert-manager renews a certificate by rewriting its Secret: the next handshake presents the
    /// new certificate, and connections opened before carry on untouched. Here shop-tls is
    /// rewritten at 60 s with the api's certificate, so new connections for shop.example.com
    /// fail their name check from then on, while a kept-alive one keeps being answered.
    @Test func aRotatedCertificateServesNewHandshakesAndLeavesOpenConnections() throws {
        var scenario = try Self.scenario(replacing: "workloads:\n", with: """
            workloads:
              - {name: shop-https-kept, node: visitor, kind: client, protocol: https-keepalive, target: gateway-1:443,
                 hostHeader: shop.example.com, path: /catalog, caSecret: gateway-ca, start: 15s, interval: 1s, count: 90, timeout: 5s}

            """)
        let apiCertificate = try #require(scenario.manifests.first { $0.kind == "Secret" && $0.name == "api-tls" })
        var rotated = apiCertificate
        rotated.name = "shop-tls"
        rotated.yaml = apiCertificate.yaml.replacingOccurrences(of: "name: api-tls", with: "name: shop-tls")
        #expect(rotated.yaml != apiCertificate.yaml)
        scenario.changes.append(ObjectChangeSpec(at: 60 * Self.second, action: .apply(rotated)))
        let runner = try ScenarioRunner(scenario: scenario)
        _ = try runner.run()
        let fresh = try #require(runner.log(of: "shop-https")).outcomes
        let before = fresh.filter { $0.startedAt < .uptimeNanoseconds(60 * Self.second) }
        let after = fresh.filter { $0.startedAt > .uptimeNanoseconds(61 * Self.second) }
        #expect(!before.isEmpty && before.allSatisfy(\.succeeded), "the first certificate served until the rotation")
        #expect(!after.isEmpty && after.allSatisfy { !$0.succeeded }, "each new handshake after it gets the new certificate")
        let kept = try #require(runner.log(of: "shop-https-kept")).outcomes
        #expect(kept.count == 90 && kept.allSatisfy(\.succeeded),
                "the connection opened before the rotation is never dropped: \(kept.filter { !$0.succeeded }.count) failed")
    }

    @Test func aDeletedGatewayClosesItsPorts() throws {
        let runner = try ScenarioRunner(scenario: try Self.scenario(
            replacing: "changes:\n", with: """
                changes:
                  - {at: 110s, delete: {kind: Gateway, namespace: default, name: edge-gateway}}

                """))
        var ports: [UInt16]?
        _ = try runner.run(options: .init(prepare: { simulator in
            simulator.schedule(at: 115 * Self.second) { ports = runner.agent(on: "gateway-1")?.gateway?.listeningPorts }
        }))
        #expect(ports == [])
    }

    @Test(arguments: [
        ("path: /catalog/books,", "path: catalog/books,", "\"catalog/books\" is not a request path (it starts with / and has no spaces)"),
        ("hostHeader: API.example.com,", "hostHeader: \"api example\",", "\"api example\" is not a Host header value"),
        ("target: gateway-1:9000, payload: 4KiB,", "target: gateway-1:9000, payload: 4KiB, path: /x,",
         "path is for http, https, http-keepalive and https-keepalive clients; this one speaks tcp"),
    ])
    func aClientsRequestFieldsAreChecked(original: String, replacement: String, message: String) throws {
        let error = #expect(throws: ScenarioError.self) { _ = try Self.scenario(replacing: original, with: replacement) }
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "")")
    }

    @Test func aGatewayNodeMustRunAnAgent() throws {
        let error = #expect(throws: ScenarioError.self) {
            _ = try Self.scenario(replacing: "gateways: [gateway-1]", with: "gateways: [visitor]")
        }
        #expect(error?.description.contains("gateway node \"visitor\" runs no agent; the gateway is a role of the agent") == true,
                "\(error?.description ?? "")")
    }
}
