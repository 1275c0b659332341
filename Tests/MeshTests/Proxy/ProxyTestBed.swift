import Mesh
import NIOCore
import NetworkTopology
@testable import Scenario
import Testing

@testable import NetSim

/// Holds a value set by a callback on the simulation thread.
final class ProxyTestBox<Value>: @unchecked Sendable {
    var value: Value?
}

/// A LAN with a client node running the service proxy ("edge") and three backend pods
/// (`pod-1` … `pod-3`, one node each) serving HTTP on 8080, TCP echo on 2701, UDP echo on
/// 5000, WebSocket echo on 8081 and a byte echo standing in for a TLS server on 8443.
///
/// Services: `web` 10.96.0.10:80 → 8080, `echo` 10.96.0.11:2701, `udp-echo` 10.96.0.12:5000/UDP,
/// `ws` 10.96.0.13:80 → 8081, `secure` 10.96.0.14:443 → 8443, each with every pod as endpoint.
final class ProxyTestBed {
    static let s = Nanoseconds.second
    static let ms = Nanoseconds.millisecond
    static let pods = ["pod-1", "pod-2", "pod-3", "pod-4"]

    let sim: Simulator
    let edge: SimHost
    let table: ServiceTable
    let proxy: ServiceProxy

    /// `pods` are the pods that start as endpoints (pod-4 exists but is not an endpoint).
    init(
        seed: UInt64 = 1, pods: [String] = ["pod-1", "pod-2", "pod-3"], configuration: ServiceProxy.Configuration = .init(),
        extraObjects: [KubernetesObject] = [], tunnel: ((SimHost) -> any Tunnel)? = nil
    ) throws {
        sim = try Simulator(seed: seed, topology: TopologySpec(
            networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/24")!)],
            nodes: [.init(name: "edge", network: "lan")] + Self.pods.map { .init(name: $0, network: "lan") }))
        edge = try #require(sim.host(named: "edge"))
        for name in Self.pods {
            let pod = try #require(sim.host(named: name))
            HTTPServerWorkload.start(on: pod, port: 8080, podName: name)
            TCPEchoServerWorkload.start(on: pod, port: 2701)
            UDPEchoServerWorkload.start(on: pod, port: 5000)
            WebSocketEchoServerWorkload.start(on: pod, port: 8081)
            TCPEchoServerWorkload.start(on: pod, port: 8443)
        }
        table = ServiceTable(eventLoop: edge.eventLoop)
        for object in Self.services + extraObjects { table.apply(.upsert(object)) }
        proxy = ServiceProxy(host: edge, table: table, tunnel: tunnel?(edge), configuration: configuration)
        setEndpoints(pods)
        let started = ProxyTestBox<Result<Void, Error>>()
        proxy.start().whenComplete { started.value = $0 }
        sim.run(until: sim.now + Self.s) { started.value == nil }
        try #require(started.value).get()
    }

    static let services: [KubernetesObject] = [
        service("web", "10.96.0.10", [ServicePort(name: "http", port: 80, targetPort: .number(8080))]),
        service("echo", "10.96.0.11", [ServicePort(name: "tcp", port: 2701)]),
        service("udp-echo", "10.96.0.12", [ServicePort(name: "udp", protocol: .udp, port: 5000)]),
        service("ws", "10.96.0.13", [ServicePort(name: "http", port: 80, targetPort: .number(8081))]),
        service("secure", "10.96.0.14", [ServicePort(name: "https", port: 443, targetPort: .number(8443))]),
    ]

    static let targetPorts: [String: (name: String, port: Int, protocol: PortProtocol)] = [
        "web": ("http", 8080, .tcp), "echo": ("tcp", 2701, .tcp), "udp-echo": ("udp", 5000, .udp),
        "ws": ("http", 8081, .tcp), "secure": ("https", 8443, .tcp),
    ]

    static func service(
        _ name: String, _ clusterIP: String, _ ports: [ServicePort], affinity: Service.SessionAffinity? = nil,
        affinityTimeout: Int? = nil, trafficPolicy: Service.TrafficPolicy? = nil
    ) -> KubernetesObject {
        .service(Service(
            metadata: ObjectMeta(name: name, namespace: "default"),
            spec: Service.Spec(
                clusterIP: clusterIP, ports: ports, sessionAffinity: affinity, clientIPTimeoutSeconds: affinityTimeout,
                internalTrafficPolicy: trafficPolicy)))
    }

    static func destinationRule(for service: String, _ yaml: String) throws -> KubernetesObject {
        try destinationRule(for: service, trafficPolicy: "loadBalancer:\n" + yaml.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
    }

    /// A DestinationRule for `service` whose `trafficPolicy` is the YAML given.
    static func destinationRule(for service: String, trafficPolicy yaml: String) throws -> KubernetesObject {
        let text = """
            apiVersion: networking.istio.io/v1beta1
            kind: DestinationRule
            metadata: {name: \(service), namespace: default}
            spec:
              host: \(service)
              trafficPolicy:
            \(yaml.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            """
        let set = ManifestSet(files: ["dr.yaml": text])
        #expect(set.problems.isEmpty, "\(set.problems)")
        let object = try #require(set.objects[.destinationRule]?.first)
        return object
    }

    /// Makes `pods` the endpoints of every service (node name = pod name).
    func setEndpoints(_ pods: [String], of services: [String] = ["web", "echo", "udp-echo", "ws", "secure"]) {
        for service in services {
            let port = Self.targetPorts[service]!
            let addresses = pods.map { Endpoints.Address(ip: sim.resolve($0)!.description, nodeName: $0) }
            table.apply(.upsert(.endpoints(Endpoints(
                metadata: ObjectMeta(name: service, namespace: "default"),
                subsets: addresses.isEmpty ? [] : [Endpoints.Subset(
                    addresses: addresses, ports: [Endpoints.Port(name: port.name, port: port.port, protocol: port.protocol)])]))))
        }
    }

    /// Runs a client workload on `host` (the edge node by default) to completion.
    func runClient(
        _ kind: ClientWorkload.Kind, _ target: String, count: Int, interval: UInt64 = 100 * ms,
        on host: SimHost? = nil, during: ((UInt64) -> Void)? = nil
    ) -> RequestLog {
        let host = host ?? edge
        let log = RequestLog()
        let workload = ClientWorkload(
            kind: kind, targets: [HostPort(target)!], firstRequestAt: host.now + .milliseconds(10),
            interval: .nanoseconds(Int64(interval)), count: count, timeout: .seconds(5), payloadSize: 64)
        workload.start(on: host, resolver: { IPv4Address($0) }, log: log)
        let end = sim.now + UInt64(count) * interval + 6 * Self.s
        sim.run(until: end) { log.attempted < count }
        return log
    }

    /// Opens a connection from the edge node to `address`, writes `chunks`, optionally
    /// half-closes, and collects what comes back until the connection closes or `limit` passes.
    func exchange(
        _ address: String, port: UInt16, _ chunks: [ByteBuffer], halfClose: Bool = true, limit: UInt64 = 10 * s,
        keepOpen: Bool = false, allowHalfClosure: Bool = true
    ) throws -> (received: ByteBuffer, closed: Bool, channel: Channel, error: Error?) {
        let collector = StreamRecorder()
        let connected = ProxyTestBox<Result<Channel, Error>>()
        edge.connectStream(StreamConnectOptions(
            remote: try SocketAddress(ipAddress: address, port: Int(port)), allowRemoteHalfClosure: allowHalfClosure)
        ) { $0.pipeline.addHandler(collector) }.whenComplete { connected.value = $0 }
        sim.run(until: sim.now + 5 * Self.s) { connected.value == nil }
        let channel = try #require(connected.value).get()
        for chunk in chunks { channel.writeAndFlush(chunk, promise: nil) }
        if halfClose { channel.close(mode: .output, promise: nil) }
        let expected = chunks.reduce(0) { $0 + $1.readableBytes }
        sim.run(until: sim.now + limit) { keepOpen ? collector.byteCount < expected : !collector.closed }
        return (collector.bytes, collector.closed, channel, collector.errors.first)
    }

    /// One HTTP/1.1 request with `headers`; returns the raw response text. The client closes
    /// when the server does, as HTTP clients do, so no connection outlives its request.
    func httpRequest(_ address: String = "10.96.0.10", target: String = "/", headers: [String] = []) throws -> String {
        var request = ByteBuffer()
        request.writeString("GET \(target) HTTP/1.1\r\nHost: web\r\n")
        for header in headers { request.writeString(header + "\r\n") }
        request.writeString("Connection: close\r\n\r\n")
        let result = try exchange(address, port: 80, [request], halfClose: false, allowHalfClosure: false)
        return String(buffer: result.received)
    }

    /// The pod name in an HTTP response body.
    static func podName(_ response: String) -> String? {
        response.split(whereSeparator: \.isNewline).last.map(String.init).flatMap { pods.contains($0) ? $0 : nil }
    }
}

struct ProxyTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
