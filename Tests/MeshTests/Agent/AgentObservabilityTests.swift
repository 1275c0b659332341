import Foundation
import Mesh
import NIOCore
import NetworkTopology
@testable import Scenario
import Testing

@testable import NetSim

/// The agent's local endpoint as an operator's Prometheus and `edgemesh status` see it.
@Suite struct AgentObservabilityTests {
    @Test func metricsAndStatusDescribeTheAgent() throws {
        let sim = try KubernetesAPITests.cloudAndEdge(loss: 0)
        let api = try #require(sim.host(named: "api")), edge = try #require(sim.host(named: "edge-1"))
        let server = KubernetesTestAPIServer(host: api)
        _ = server.start()
        try server.create(.services, json: KubernetesAPITests.service("web"))

        let agent = try EdgeAgent(
            host: edge,
            configuration: .init(
                nodeName: "edge-1", listenAddress: .loopback, statusAddress: IPv4Address.loopback.socketAddress(port: 10551)))
        _ = agent.start()
        agent.follow(KubernetesAPIClient(host: edge, endpoint: KubernetesAPIEndpoint(host: api.address.description, port: 6443)))
        sim.run(until: 10 * Nanoseconds.second)

        var answers: [IPv4Address] = []
        DNSStubResolver(server: IPv4Address.loopback.socketAddress(port: 53)).lookupA("web.default.svc.cluster.local", on: edge)
            .whenSuccess { answers = $0 }
        _ = DNSStubResolver(server: IPv4Address.loopback.socketAddress(port: 53)).lookupA("nothing.default.svc.cluster.local", on: edge)
        var metrics = "", statusJSON = "", missing: (any Error)?
        func get(_ path: String, _ body: @escaping (String) -> Void) -> EventLoopFuture<String> {
            let page = HTTPExchange.get(on: edge, address: .loopback, port: 10551, authority: "127.0.0.1:10551", path: path)
            page.whenSuccess(body)
            return page
        }
        sim.run(until: 11 * Nanoseconds.second)
        _ = get("/metrics") { metrics = $0 }
        _ = get("/status") { statusJSON = $0 }
        get("/nothing") { _ in }.whenFailure { missing = $0 }
        sim.run(until: 12 * Nanoseconds.second)

        #expect(answers == [IPv4Address("10.96.0.80")!])
        #expect(metrics.contains("edgemesh_table_objects{kind=\"Service\"} 1\n"))
        #expect(metrics.contains("edgemesh_dns_queries_total 2\n"))
        #expect(metrics.contains("edgemesh_dns_responses_total{rcode=\"NOERROR\"} 1\n"))
        #expect(metrics.contains("edgemesh_dns_responses_total{rcode=\"NXDOMAIN\"} 1\n"))
        #expect(metrics.contains("edgemesh_api_synced 1\n"))
        #expect(metrics.contains("edgemesh_api_watching{resource=\"services\"} 1\n"))
        #expect(metrics.contains("# TYPE edgemesh_dns_queries_total counter\n"))

        let status = try JSONDecoder().decode(AgentStatus.self, from: Data(statusJSON.utf8))
        #expect(status.node == "edge-1")
        #expect(status.synced)
        #expect(status.sourceDescription == "api http://\(api.address):6443")
        #expect(status.objects.first { $0.kind == "Service" }?.count == 1)
        #expect(status.sources.first { $0.resource == "services" }?.state == "watching")
        #expect(status.dns.listening == ["127.0.0.1:53"])
        #expect("\(missing.map { "\($0)" } ?? "")" == "HTTP status 404")
    }

    /// A limit reached is counted in `/metrics` and named in `edgemesh status`: here a DNS
    /// client that connects over TCP and says nothing is closed at the idle limit.
    @Test func aLimitReachedIsCountedAndNamedInTheStatus() throws {
        let sim = try KubernetesAPITests.cloudAndEdge(loss: 0)
        let edge = try #require(sim.host(named: "edge-1"))
        let agent = try EdgeAgent(host: edge, configuration: .init(nodeName: "edge-1", listenAddress: .loopback))
        _ = agent.start()
        sim.run(until: Nanoseconds.second)
        #expect(agent.status().limitsReached == [], "no limit reached yet")
        var silent: Channel?
        edge.connectStream(StreamConnectOptions(remote: IPv4Address.loopback.socketAddress(port: 53))) { _ in
            edge.eventLoop.makeSucceededVoidFuture()
        }.whenSuccess { silent = $0 }
        sim.run(until: 30 * Nanoseconds.second)
        #expect(silent != nil)
        #expect(agent.metricsText().contains("edgemesh_dns_tcp_idle_closes_total 1\n"))
        #expect(agent.status().limitsReached == ["1 DNS TCP clients closed idle"])
    }

    /// `GET /table` lists what the agent holds as a Kubernetes List an agent can read back as
    /// manifests, object for object, and never a Secret (a gateway's key stays on the node).
    @Test func tableListsTheObjectsAsManifestsAndNoSecret() throws {
        let sim = try KubernetesAPITests.cloudAndEdge(loss: 0)
        let edge = try #require(sim.host(named: "edge-1"))
        let agent = try EdgeAgent(
            host: edge,
            configuration: .init(
                nodeName: "edge-1", listenAddress: .loopback, statusAddress: IPv4Address.loopback.socketAddress(port: 10551),
                gateway: IngressGateway.Configuration()))
        _ = agent.start()
        let manifests = """
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: shop, resourceVersion: "7"}
            spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80, targetPort: 8080}]}
            ---
            apiVersion: v1
            kind: Endpoints
            metadata: {name: web, namespace: shop}
            subsets: [{addresses: [{ip: 192.168.1.10, nodeName: edge-1}], ports: [{name: http, port: 8080}]}]
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: DestinationRule
            metadata: {name: web, namespace: shop}
            spec: {host: web.shop.svc.cluster.local, trafficPolicy: {loadBalancer: {simple: RANDOM}}}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: Gateway
            metadata: {name: edge, namespace: shop}
            spec:
              selector: {kubeedge: edgemesh-gateway}
              servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, credentialName: web-tls}}]
            ---
            apiVersion: v1
            kind: Secret
            type: kubernetes.io/tls
            metadata: {name: web-tls, namespace: shop}
            data: {tls.crt: Y2VydA==, tls.key: c2VjcmV0LWtleQ==}
            """
        sim.run(until: Nanoseconds.second)
        _ = agent.applyManifests(["shop.yaml": manifests])
        #expect(agent.table.objects(of: .secret).count == 1)
        var listing = ""
        HTTPExchange.get(on: edge, address: .loopback, port: 10551, authority: "127.0.0.1:10551", path: "/table")
            .whenSuccess { listing = $0 }
        sim.run(until: 2 * Nanoseconds.second)

        let list = try #require(try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [String: Any])
        #expect(list["kind"] as? String == "List")
        let items = try #require(list["items"] as? [[String: Any]])
        #expect(items.map { "\($0["apiVersion"] ?? "") \($0["kind"] ?? "")" } == [
            "v1 Service", "v1 Endpoints", "networking.istio.io/v1beta1 DestinationRule", "networking.istio.io/v1beta1 Gateway",
        ])
        #expect(!listing.contains("c2VjcmV0LWtleQ=="))
        // Read back as a manifest file, the listing is the table without its Secret.
        let readBack = ManifestSet(files: ["table.json": listing])
        #expect(readBack.problems.isEmpty, "\(readBack.problems)")
        #expect(readBack.objects[.service]?.first?.metadata?.resourceVersion == "7")
        let kinds = readBack.objects.filter { !$0.value.isEmpty }.keys.map(\.rawValue).sorted()
        #expect(kinds == ["DestinationRule", "Endpoints", "Gateway", "Service"])
    }
}
