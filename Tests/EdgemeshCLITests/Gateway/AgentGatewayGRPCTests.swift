import Foundation
import Testing

/// gRPC through the real agent's gateway: Python `grpcio` servers (three replicas) behind a
/// service whose port is named `grpc`, and a `grpcio` client that makes its calls over one
/// channel (one HTTP/2 connection, h2c) to the gateway, which balances them call by call.
@Suite(.serialized) struct AgentGatewayGRPCTests {
    typealias Namespace = NamespaceTestBed

    /// A gRPC server answering `/edge.Who/Name` with its replica's name: arguments name, address, port.
    static let server = """
        import sys, grpc
        from concurrent import futures
        name, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
        handler = grpc.method_handlers_generic_handler(
            "edge.Who", {"Name": grpc.unary_unary_rpc_method_handler(lambda request, context: name.encode())})
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers((handler,))
        server.add_insecure_port(f"{address}:{port}")
        server.start()
        server.wait_for_termination()
        """

    /// 30 calls on one channel to the gateway, then one to a service with no replica: prints the
    /// replicas that answered, sorted, then the second call's status code.
    static let client = """
        import grpc
        channel = grpc.insecure_channel("127.0.0.1:8088", options=[("grpc.default_authority", "grpc.example.com")])
        who = channel.unary_unary("/edge.Who/Name")
        names = [who(b"", timeout=5).decode() for _ in range(30)]
        print(" ".join(sorted(set(names))))
        try:
            channel.unary_unary("/edge.Nobody/Name")(b"", timeout=5)
            print("OK")
        except grpc.RpcError as error:
            print(error.code().name)
        """

    static let manifests = """
        apiVersion: v1
        kind: Service
        metadata: {name: who, namespace: default}
        spec: {clusterIP: 10.96.0.80, ports: [{name: grpc, port: 80, targetPort: 9091}]}
        ---
        apiVersion: v1
        kind: Endpoints
        metadata: {name: who, namespace: default}
        subsets:
        - {addresses: [{ip: \(Namespace.podAddress), nodeName: node-a}], ports: [{name: grpc, port: 9091}]}
        - {addresses: [{ip: \(Namespace.podAddress), nodeName: node-a}], ports: [{name: grpc, port: 9092}]}
        - {addresses: [{ip: \(Namespace.podAddress), nodeName: node-a}], ports: [{name: grpc, port: 9093}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: nobody, namespace: default}
        spec: {clusterIP: 10.96.0.81, ports: [{name: grpc, port: 80, targetPort: 9094}]}
        ---
        apiVersion: networking.istio.io/v1beta1
        kind: Gateway
        metadata: {name: edge-gateway, namespace: default}
        spec:
          selector: {kubeedge: edgemesh-gateway}
          servers: [{port: {number: 8088, name: grpc, protocol: HTTP}, hosts: [grpc.example.com]}]
        ---
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        metadata: {name: grpc, namespace: default}
        spec:
          hosts: [grpc.example.com]
          gateways: [edge-gateway]
          http:
          - match: [{uri: {prefix: /edge.Who/}}]
            route: [{destination: {host: who}}]
          - route: [{destination: {host: nobody}}]
        """

    @Test(.enabled(if: Namespace.isAvailable(pythonModules: ["grpc"]), "needs root, iproute2, python3, python3-grpcio, curl and nft (scripts/install-deps)"))
    func grpcCallsOnOneChannelAreBalancedPerCall() throws {
        let namespace = try Namespace()
        defer { namespace.tearDown() }
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for (index, port) in [9091, 9092, 9093].enumerated() {
            try namespace.start([Namespace.python, "-c", Self.server, "replica-\(index + 1)", Namespace.podAddress, "\(port)"])
        }
        try namespace.startAgent(manifests: ["grpc.yaml": Self.manifests], in: directory, arguments: ["--gateway"])
        var output = ""
        #expect(Namespace.eventually {
            output = (try? namespace.run([Namespace.python, "-c", Self.client]).output) ?? ""
            return output.hasPrefix("replica-")
        }, "the client's calls are answered: \(output)")
        #expect(output == "replica-1 replica-2 replica-3\nUNAVAILABLE\n",
                "30 calls on one channel reach all three replicas; a service with no replica is UNAVAILABLE: \(output)")
    }
}
