import Mesh
import NIOCore
import NetworkTopology
@testable import Scenario
@testable import SimTestbed
import Testing

@testable import NetSim

/// Agents in scenarios: list-watch of the simulated API server through a cloud outage, object
/// changes on the timeline, DNS clients asking their node's agent, and the parser's checks.
@Suite struct ScenarioMeshTests {
    static let minute = 60 * Nanoseconds.second

    static func yaml(mesh: String = "mesh: {agents: [edge], apiServer: api}", extra: String = "", workloads: String? = nil) -> String {
        """
        name: mesh-test
        duration: 10m
        network:
          networks:
            - {name: internet, subnet: 203.0.113.0/24}
            - {name: cloud, subnet: 198.51.100.0/24, router: cloud-gw, cloud: true}
            - {name: lan, subnet: 192.168.1.0/24, router: nat}
          routers:
            - {name: cloud-gw, upstream: internet, address: 203.0.113.2}
            - {name: nat, upstream: internet, address: 203.0.113.10, nat: {}, link: {latency: 30ms, loss: 2%}}
          nodes:
            - {name: api, network: cloud, address: 198.51.100.10}
            - {name: edge, network: lan, address: 192.168.1.10}
            - {name: other, network: lan, address: 192.168.1.11}
        \(mesh)
        kubernetes:
          - {apiVersion: v1, kind: Service, metadata: {name: web, namespace: shop}, spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}}
        \(extra)
        workloads:
        \(workloads ?? "  - {name: lookups, node: edge, kind: client, protocol: dns, target: web.shop, start: 30s, interval: 10s, count: 50, timeout: 2s}")
        expect:
          - {workload: lookups, successRatio: {min: 1}}
          - {agent: edge, tableMatchesSource: true}
        """
    }

    @Test func anAgentKeepsAnsweringWithoutTheCloudAndCatchesUpAfterwards() throws {
        let scenario = try ScenarioParser.parse(
            yaml: Self.yaml(extra: """
                changes:
                  - at: 3m
                    apply: {apiVersion: v1, kind: Service, metadata: {name: cache, namespace: shop}, spec: {clusterIP: 10.96.0.20, ports: [{port: 6379}]}}
                faults:
                  - {at: 2m, for: 4m, cloudUnreachable: true}
                """),
            source: "inline")
        let runner = try ScenarioRunner(scenario: scenario)
        let cache = ObjectKey(namespace: "shop", name: "cache")
        var seenDuringOutage: Bool?
        var seenAfter: Bool?
        let report = try runner.run(options: .init(prepare: { simulator in
            simulator.schedule(at: 5 * Self.minute) { seenDuringOutage = runner.agent(on: "edge")?.table.service(cache) != nil }
            simulator.schedule(at: 9 * Self.minute) { seenAfter = runner.agent(on: "edge")?.table.service(cache) != nil }
        }))
        let failed = report.verdicts.filter { !$0.passed }.map(\.detail)
        #expect(failed.isEmpty, "\(failed)")
        #expect(seenDuringOutage == false, "the change made during the outage cannot have reached the edge yet")
        #expect(seenAfter == true, "the watch resumed after the outage and delivered the change")
        let status = try #require(runner.agent(on: "edge")?.apiSource)
        #expect(status.isSynced)
        #expect(status.statuses.contains { $0.reconnectCount > 0 }, "the outage must have cut the watches")
    }

    @Test func withAnAPIServerEachAgentPublishesItsOwnTunnelKeyOnceTheCloudIsBack() throws {
        let scenario = try ScenarioParser.parse(
            yaml: Self.yaml(
                mesh: "mesh: {agents: [edge, other], apiServer: api}",
                extra: "faults:\n  - {at: 0s, for: 3m, cloudUnreachable: true}",
                workloads: "  - {name: lookups, node: edge, kind: client, protocol: dns, target: web.shop, start: 5m, interval: 10s, count: 20, timeout: 2s}"),
            source: "inline")
        let runner = try ScenarioRunner(scenario: scenario)
        var annotatedDuringOutage: [String] = []
        let report = try runner.run(options: .init(prepare: { simulator in
            simulator.schedule(at: 2 * Self.minute) {
                annotatedDuringOutage = runner.apiServer?.objects(of: .nodes).filter {
                    String(decoding: $0.json, as: UTF8.self).contains(tunnelPublicKeyAnnotation)
                }.map(\.key.name) ?? []
            }
        }))
        let failed = report.verdicts.filter { !$0.passed }.map(\.detail)
        #expect(failed.isEmpty, "\(failed)")
        #expect(annotatedDuringOutage.isEmpty, "nobody but the agents writes keys, and they cannot reach the cloud yet")
        let server = try #require(runner.apiServer)
        for node in ["edge", "other"] {
            let agent = try #require(runner.agent(on: node))
            let key = try #require(agent.tunnel?.identity?.publicKeyText)
            let stored = try #require(server.objects(of: .nodes).first { $0.key.name == node })
            let object = try KubernetesDecoder.decode(Node.self, json: stored.json)
            #expect(object.metadata.annotations[tunnelPublicKeyAnnotation] == key, "\(node)'s Node carries the key its agent holds")
            #expect(object.status.addresses.isEmpty == false, "the kubelet-style registration (the address) is kept")
            guard case .published = agent.keyPublisher?.state else {
                Issue.record("\(node): \(String(describing: agent.keyPublisher?.state))")
                continue
            }
            #expect(agent.status().tunnelKey?.hasPrefix("published") == true, "\(String(describing: agent.status().tunnelKey))")
            #expect(agent.metricsText().contains("edgemesh_tunnel_key_published 1"), "the metric says so too")
            // Each agent's peer reads the other's key from its own table, as the tunnel will.
            let peer = node == "edge" ? "other" : "edge"
            let peerTable = try #require(runner.agent(on: peer)?.table)
            #expect(ServiceTablePeerDirectory(table: peerTable).publicKey(ofNode: node) == agent.tunnel?.identity?.keyPair.publicKey)
        }
        let patches = server.requests.filter { $0.method == .PATCH }
        #expect(Set(patches.map(\.uri)) == ["/api/v1/nodes/edge", "/api/v1/nodes/other"])
        #expect(patches.allSatisfy { $0.receivedAt >= .uptimeNanoseconds(3 * Self.minute) }, "no patch got through the outage")
    }

    @Test func anAgentWhosePatchIsForbiddenSaysWhyInItsStatusAndKeepsServing() throws {
        let scenario = try ScenarioParser.parse(yaml: Self.yaml(), source: "inline")
        let runner = try ScenarioRunner(scenario: scenario)
        let server = try #require(runner.apiServer)
        server.forbidden = [.init(verb: "patch", resource: .nodes)]
        var statusDuringRun: String?
        let report = try runner.run(options: .init(prepare: { simulator in
            simulator.schedule(at: 5 * Self.minute) { statusDuringRun = runner.agent(on: "edge")?.status().tunnelKey }
        }))
        let failed = report.verdicts.filter { !$0.passed }.map(\.detail)
        #expect(failed.isEmpty, "DNS and the table are unaffected: \(failed)")
        let status = try #require(statusDuringRun)
        #expect(status.contains("not published: 403: the ClusterRole lacks patch on nodes"), "\(status)")
        #expect(status.contains("on Node edge"), "\(status)")
        let patches = server.requests.filter { $0.method == .PATCH }.count
        // Retried at the backoff cap for ten minutes in case the role is fixed: tens, not thousands.
        #expect(patches >= 5 && patches <= 100, "\(patches) refused patches in 10 min")
    }

    @Test func withoutAnAPIServerAgentsFollowTheManifestsAndTheirChanges() throws {
        let scenario = try ScenarioParser.parse(
            yaml: Self.yaml(mesh: "mesh: {agents: all}", extra: """
                changes:
                  - {at: 2m, delete: {kind: Service, namespace: shop, name: web}}
                """, workloads: "  - {name: lookups, node: other, kind: client, protocol: dns, target: web.shop.svc.cluster.local, start: 30s, interval: 1m, count: 3, timeout: 2s}"),
            source: "inline")
        #expect(scenario.mesh?.agents == ["api", "edge", "other"])
        let report = try ScenarioRunner(scenario: scenario).run()
        let lookups = try #require(report.workloads.first { $0.name == "lookups" })
        // Lookups at 30s and 1m30s find the service; the one at 2m30s comes after its deletion.
        #expect(lookups.attempted == 3)
        #expect(lookups.succeeded == 2)
        #expect(lookups.failureReasons.contains { $0.reason.contains("NXDOMAIN") })
        #expect(report.verdicts.contains { $0.expectation.kind == .tableMatchesSource && $0.passed })
    }

    @Test func meshMistakesAreNamedInTheFile() {
        func message(_ yaml: String) -> String {
            do {
                _ = try ScenarioParser.parse(yaml: yaml, source: "inline")
                return "parsed"
            } catch {
                return error.description
            }
        }
        #expect(message(Self.yaml(mesh: "mesh: {agents: [edge, nowhere], apiServer: api}")).contains(
            #"mesh.agents[1]: unknown node "nowhere""#))
        #expect(message(Self.yaml(mesh: "mesh: {agents: [other]}")).contains(
            #"a dns client asks its node's agent, and node "edge" runs none (agents: other)"#))
        #expect(message(Self.yaml(mesh: "", extra: "changes: [{at: 1m, delete: {kind: Service, name: web}}]")).contains(
            "changes need a mesh section"))
        #expect(message(Self.yaml(extra: "changes: [{at: 11m, delete: {kind: Service, name: web}}]")).contains(
            "is not before the end of the run"))
        #expect(message(Self.yaml(mesh: "mesh: {agents: [edge], clusterDomain: \"bad..domain\"}")).contains(
            "mesh.clusterDomain"))
    }

    @Test func manifestsBecomeJSONWithTheirTypesAndOrder() throws {
        let json = try ManifestJSON.encode(yaml: """
            kind: Service
            metadata: {name: "web", labels: {"a": "80"}}
            spec: {ports: [{port: 80, name: "http\\"x"}], publishNotReadyAddresses: true, note: ~}
            """)
        #expect(String(decoding: json, as: UTF8.self)
            == #"{"kind":"Service","metadata":{"name":"web","labels":{"a":"80"}},"spec":{"ports":[{"port":80,"name":"http\"x"}],"publishNotReadyAddresses":true,"note":null}}"#)
    }
}
