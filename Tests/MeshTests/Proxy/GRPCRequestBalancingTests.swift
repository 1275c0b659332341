import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim
@testable import Scenario

/// gRPC between pods: a client keeps one HTTP/2 connection to a service's cluster IP, as gRPC
/// channels do, and the proxy still spreads its calls over the replicas, call by call, as
/// Envoy balances gRPC (a plain splice would pin every call to the replica the connection hit).
@Suite struct GRPCRequestBalancingTests {
    typealias Bed = ProxyTestBed
    static let s = Nanoseconds.second

    /// Connections the replicas accepted, counted on the simulator's one thread.
    final class AcceptedConnections: @unchecked Sendable {
        var count = 0
    }

    /// Three replicas of a gRPC service behind 10.96.1.20:80, counting the connections they accept.
    private static func grpcService(_ bed: Bed) throws -> AcceptedConnections {
        let accepted = AcceptedConnections()
        var addresses: [String] = []
        for pod in ["pod-1", "pod-2", "pod-3"] {
            GRPCServerWorkload.start(on: try #require(bed.sim.host(named: pod)), port: 9090, podName: pod) { accepted.count += 1 }
            addresses.append("{ip: \(try #require(bed.sim.resolve(pod))), nodeName: \(pod)}")
        }
        let set = ManifestSet(files: ["grpc.yaml": """
            apiVersion: v1
            kind: Service
            metadata: {name: who, namespace: default}
            spec: {clusterIP: 10.96.1.20, ports: [{name: grpc-who, port: 80, targetPort: 9090}]}
            ---
            apiVersion: v1
            kind: Endpoints
            metadata: {name: who, namespace: default}
            subsets: [{addresses: [\(addresses.joined(separator: ", "))], ports: [{name: grpc-who, port: 9090}]}]
            """])
        #expect(set.problems.isEmpty, "\(set.problems)")
        for object in set.objects.values.flatMap({ $0 }) { bed.table.apply(.upsert(object)) }
        bed.sim.run(for: Self.s)
        return accepted
    }

    @Test func callsOnOneInterceptedConnectionSpreadOverTheReplicas() throws {
        let bed = try Bed()
        let accepted = try Self.grpcService(bed)
        let multiplexer = try GatewayHTTP2Tests.connect(bed, from: "edge", to: try SocketAddress(ipAddress: "10.96.1.20", port: 80))
        let calls = (0..<30).map { _ in GatewayHTTP2Tests.grpcCall("/edge.Who/Name", on: multiplexer) }
        bed.sim.run(until: bed.sim.now + 5 * Self.s) { !calls.allSatisfy(\.ended) }
        #expect(calls.allSatisfy { $0.status == .ok && $0.trailers?["grpc-status"] == ["0"] }, "\(calls.map(\.body))")
        #expect(Set(calls.map { String($0.body.dropFirst(5)) }) == ["pod-1", "pod-2", "pod-3"],
                "one connection's calls reach every replica")
        // The thirty calls came at once, before any replica had a connection: each call that
        // chose a replica being dialled waited for that connection, as Envoy queues requests
        // on a pending upstream connection, rather than dialling one of its own.
        #expect(accepted.count == 3, "one connection per replica, not one per call")
    }
}
