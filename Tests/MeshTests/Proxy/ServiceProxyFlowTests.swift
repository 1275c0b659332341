import Mesh
import NIOCore
@testable import Scenario
import Testing

@testable import NetSim

/// How the proxy moves bytes: back-pressure from a slow backend, and which backends the
/// tunnel carries.
@Suite struct ServiceProxyFlowTests {
    typealias Bench = ProxyTestBed
    static let s = Bench.s

    @Test func aStalledBackendStopsTheClientInsteadOfFillingTheProxy() throws {
        let bench = try Bench(extraObjects: [Bench.service("sink", "10.96.0.15", [ServicePort(name: "tcp", port: 9000)])])
        bench.table.apply(.upsert(.endpoints(Endpoints(
            metadata: ObjectMeta(name: "sink", namespace: "default"),
            subsets: [Endpoints.Subset(
                addresses: [Endpoints.Address(ip: bench.sim.resolve("pod-1")!.description, nodeName: "pod-1")],
                ports: [Endpoints.Port(name: "tcp", port: 9000)])]))))
        // A server that accepts and then reads nothing until told to.
        let pod = try #require(bench.sim.host(named: "pod-1"))
        let counter = ByteCounter()
        let accepted = ProxyTestBox<Channel>()
        pod.listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: 9000))) { channel in
            accepted.value = channel
            return channel.setOption(ChannelOptions.autoRead, value: false).flatMap { channel.pipeline.addHandler(counter) }
        }.whenFailure { Issue.record("sink did not listen: \($0)") }

        let client = ProxyTestBox<Channel>()
        bench.edge.connectStream(StreamConnectOptions(remote: try SocketAddress(ipAddress: "10.96.0.15", port: 9000))) {
            $0.eventLoop.makeSucceededVoidFuture()
        }.whenSuccess { client.value = $0 }
        bench.sim.run(until: bench.sim.now + 5 * Self.s) { client.value == nil || accepted.value == nil }
        let channel = try #require(client.value)
        let total = 8 * 1024 * 1024
        let chunk = ByteBuffer(repeating: 0x5a, count: 64 * 1024)
        for _ in 0..<(total / chunk.readableBytes) { channel.write(chunk, promise: nil) }
        channel.flush()
        bench.sim.run(for: 30 * Self.s)
        // Nothing was read at the far end, so the proxy stopped reading, so the client's own
        // buffer is still full: most of the 8 MB are still with the client, none in the proxy.
        #expect(counter.bytes == 0)
        #expect(!channel.isWritable)

        // The server starts reading: every byte arrives.
        accepted.value!.setOption(ChannelOptions.autoRead, value: true).whenFailure { Issue.record("\($0)") }
        bench.sim.run(until: bench.sim.now + 120 * Self.s) { counter.bytes < total }
        #expect(counter.bytes == total)
        #expect(channel.isWritable)
    }

    @Test func backendsOnOtherNodesGoThroughTheTunnelAndLocalOnesDoNot() throws {
        let recorder = TunnelRecorder()
        let bench = try Bench(tunnel: { host in recorder.attach(host) })
        HTTPServerWorkload.start(on: bench.edge, port: 8080, podName: "pod-4")
        bench.table.apply(.upsert(.endpoints(Endpoints(
            metadata: ObjectMeta(name: "web", namespace: "default"),
            subsets: [Endpoints.Subset(
                addresses: [
                    Endpoints.Address(ip: bench.edge.address.description, nodeName: "edge"),
                    Endpoints.Address(ip: bench.sim.resolve("pod-1")!.description, nodeName: "pod-1"),
                ],
                ports: [Endpoints.Port(name: "http", port: 8080)])]))))
        let log = bench.runClient(.http, "10.96.0.10:80", count: 6)
        #expect(log.succeeded == 6, "\(log.failureReasons)")
        #expect(Dictionary(uniqueKeysWithValues: log.backendCounts.map { ($0.backend, $0.count) }) == ["pod-1": 3, "pod-4": 3])
        #expect(recorder.targets.count == 3)
        #expect(recorder.targets.allSatisfy { $0.node == "pod-1" && $0.port == 8080 && $0.transport == .tcp })

        // A UDP flow to another node rides a tunnel stream too, one datagram per buffer.
        let udp = bench.runClient(.udp, "10.96.0.12:5000", count: 1)
        #expect(udp.succeeded == 1, "\(udp.failureReasons)")
        #expect(recorder.targets.last?.transport == .udp)
    }

    /// What `GET /flows` lists: each connection and UDP session, its client, the backend
    /// chosen and whether it went through the tunnel; the ring keeps the last ones only.
    @Test func theFlowLogSaysWhereEachConnectionWent() throws {
        let bench = try Bench(tunnel: { host in TunnelRecorder().attach(host) })
        HTTPServerWorkload.start(on: bench.edge, port: 8080, podName: "pod-4")
        bench.setEndpoints(["pod-1"])
        let local = bench.edge.address.description
        bench.table.apply(.upsert(.endpoints(Endpoints(
            metadata: ObjectMeta(name: "web", namespace: "default"),
            subsets: [Endpoints.Subset(
                addresses: [Endpoints.Address(ip: local, nodeName: "edge")], ports: [Endpoints.Port(name: "http", port: 8080)])]))))
        var observed: [ProxiedFlow] = []
        bench.proxy.observeFlows { observed.append($0) }
        #expect(bench.runClient(.http, "10.96.0.10:80", count: 2).succeeded == 2)
        #expect(bench.runClient(.udp, "10.96.0.12:5000", count: 1).succeeded == 1)

        let flows = bench.proxy.recentFlows
        #expect(flows == observed)
        #expect(flows.map(\.id) == [1, 2, 3])
        #expect(flows.map(\.transport) == [.tcp, .tcp, .udp])
        #expect(flows.map(\.service) == ["default/web:http", "default/web:http", "default/udp-echo:udp"])
        #expect(flows[0].backend == "\(local):8080" && flows[0].node == "edge" && flows[0].path == .local && !flows[0].tunnelled)
        let pod1 = bench.sim.resolve("pod-1")!.description
        #expect(flows[2].node == "pod-1" && flows[2].backend.hasPrefix("\(pod1):") && flows[2].tunnelled)
        #expect(flows.allSatisfy { $0.client?.hasPrefix("\(local):") == true }, "\(flows.map(\.client))")
        #expect(Set(flows.compactMap(\.client)).count == 3, "each request left from a port of its own")
    }
}

/// Counts the bytes a server reads.
final class ByteCounter: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var bytes = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes += unwrapInboundIn(data).readableBytes
    }
}

/// A stand-in tunnel that records what it was asked for and reaches the target directly:
/// a TCP connection for a TCP target, a UDP socket (datagrams unwrapped to bare buffers) for
/// a UDP target, as the `Tunnel` contract says.
final class TunnelRecorder: Tunnel, @unchecked Sendable {
    private(set) var targets: [TunnelTarget] = []
    private var host: SimHost?

    func attach(_ host: SimHost) -> TunnelRecorder {
        self.host = host
        return self
    }

    func openStream(to target: TunnelTarget, on eventLoop: EventLoop) -> EventLoopFuture<Channel> {
        targets.append(target)
        guard let host else { return eventLoop.makeFailedFuture(HostError.unsupported("tunnel without a host")) }
        let remote = target.address.socketAddress(port: target.port)
        switch target.transport {
        case .tcp:
            return host.connectStream(StreamConnectOptions(remote: remote, allowRemoteHalfClosure: true)) {
                $0.eventLoop.makeSucceededVoidFuture()
            }
        case .udp:
            return host.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 0))) {
                $0.pipeline.addHandler(DatagramUnwrapper(remote: remote))
            }
        }
    }
}

/// Makes a datagram socket look like a tunnel's UDP stream: bare buffers in and out.
final class DatagramUnwrapper: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    let remote: SocketAddress

    init(remote: SocketAddress) {
        self.remote = remote
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(wrapInboundOut(unwrapInboundIn(data).data))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: remote, data: unwrapOutboundIn(data))), promise: promise)
    }
}
