import Mesh
import NIOCore
import NetworkTopology
@testable import Scenario
@testable import SimTestbed
import Testing
@testable import NetSim

/// The API source against a server that does not serve EndpointSlices (an older cluster, or a
/// metaServer): the slice reflector stops asking and the table uses Endpoints.
@Suite struct KubernetesAPISourceTests {
    @Test func unservedSlicesLeaveEndpointsInCharge() throws {
        let sim = try KubernetesAPITests.cloudAndEdge(loss: 0)
        let api = try #require(sim.host(named: "api")), edge = try #require(sim.host(named: "edge-1"))
        let server = KubernetesTestAPIServer(host: api, configuration: .init(unservedResources: [.endpointSlices]))
        _ = server.start()
        try server.create(.services, json: KubernetesAPITests.service("web"))
        try server.create(.endpoints, json: Array("""
            {"metadata":{"name":"web","namespace":"default"},"subsets":[{"addresses":[{"ip":"192.168.1.5"}],"ports":[{"name":"http","port":8080}]}]}
            """.utf8))
        let table = ServiceTable(eventLoop: edge.eventLoop)
        let source = KubernetesAPISource(
            client: KubernetesAPIClient(host: edge, endpoint: KubernetesAPIEndpoint(host: api.address.description, port: 6443)),
            table: table)
        source.start()
        sim.run(until: 20 * Nanoseconds.second)
        #expect(source.isSynced)
        let slices = try #require(source.statuses.first { $0.resource == .endpointSlices })
        #expect(slices.phase == .notServed)
        #expect(slices.listCount == 1 || slices.listCount == 0)
        let web = ObjectKey(namespace: "default", name: "web")
        #expect(table.endpoints(of: web).map(\.ip) == ["192.168.1.5"])
        // Later changes still arrive by watch.
        try server.delete(.services, namespace: "default", name: "web")
        sim.run(until: 40 * Nanoseconds.second)
        #expect(table.service(web) == nil)
        #expect(server.requests.filter { $0.uri.contains("endpointslices") }.count == 1, "a 404 is not retried")
    }

    /// A gateway follows Secrets for its certificates; it asks the server for TLS Secrets only
    /// (a field selector on `type`), so no other Secret of the cluster ever reaches the node,
    /// not even in memory.
    @Test func aGatewayIsSentTLSSecretsOnly() throws {
        let sim = try KubernetesAPITests.cloudAndEdge(loss: 0)
        let api = try #require(sim.host(named: "api")), edge = try #require(sim.host(named: "edge-1"))
        let server = KubernetesTestAPIServer(host: api)
        _ = server.start()
        func secret(_ name: String, type: String) -> [UInt8] {
            Array(#"{"metadata":{"name":"\#(name)","namespace":"shop"},"type":"\#(type)","data":{"k":"c2VjcmV0"}}"#.utf8)
        }
        try server.create(.secrets, json: secret("web-tls", type: "kubernetes.io/tls"))
        try server.create(.secrets, json: secret("db-password", type: "Opaque"))
        let table = ServiceTable(eventLoop: edge.eventLoop)
        let source = KubernetesAPISource(
            client: KubernetesAPIClient(host: edge, endpoint: KubernetesAPIEndpoint(host: api.address.description, port: 6443)),
            table: table, options: .init(kinds: [.secret]))
        source.start()
        sim.run(until: 10 * Nanoseconds.second)
        // Later ones arrive by watch, filtered the same way.
        try server.create(.secrets, json: secret("api-tls", type: "kubernetes.io/tls"))
        try server.create(.secrets, json: secret("api-token", type: "Opaque"))
        sim.run(until: 20 * Nanoseconds.second)
        let requests = server.requests.filter { $0.uri.contains("/secrets") }
        #expect(requests.count == 2)
        #expect(requests.allSatisfy { $0.uri.contains("fieldSelector=type%3Dkubernetes.io%2Ftls") }, "\(requests.map(\.uri))")
        #expect(server.objectsSent["secrets shop/web-tls"] != nil)
        #expect(server.objectsSent["secrets shop/db-password"] == nil && server.objectsSent["secrets shop/api-token"] == nil,
                "an Opaque Secret was sent to the node")
        #expect(table.objects(of: .secret).compactMap(\.tableKey).map(\.name).sorted() == ["api-tls", "web-tls"])
    }
}
