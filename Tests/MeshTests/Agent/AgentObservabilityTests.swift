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
}
