import Mesh
import NIOCore
import NetworkTopology
@testable import Scenario
@testable import SimTestbed
import Testing

@testable import NetSim

/// Faults and NAT traversal seen from the applications: which requests get through.
@Suite struct FaultAndTraversalTests {
    static let ms = Nanoseconds.millisecond
    static let s = Nanoseconds.second

    static let flatLAN = TopologySpec(
        networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/24")!)],
        nodes: [.init(name: "a", network: "lan"), .init(name: "b", network: "lan")])

    /// Home LAN behind `nat`, with a public server on the internet.
    static func homeBehind(_ nat: NATConfiguration) -> TopologySpec {
        TopologySpec(
            networks: [
                .init(name: "internet", subnet: IPv4Prefix("203.0.113.0/24")!),
                .init(name: "home", subnet: IPv4Prefix("192.168.1.0/24")!, router: "nat"),
            ],
            routers: [.init(name: "nat", upstream: "internet", nat: nat)],
            nodes: [
                .init(name: "server", network: "internet"), .init(name: "laptop", network: "home"),
                .init(name: "phone", network: "home"),
            ])
    }

    static func client(
        _ name: String, on node: String, _ kind: WorkloadSpec.ClientSpec.ClientProtocol, to target: String,
        count: Int = 10, every interval: UInt64 = s, timeout: UInt64 = 3 * s
    ) -> WorkloadSpec {
        WorkloadSpec(
            name: name, node: node,
            kind: .client(.init(protocol: kind, targets: [target], start: s, interval: interval, count: count, timeout: timeout, payloadSize: 32)))
    }

    func run(_ topology: TopologySpec, _ workloads: [WorkloadSpec], faults: [FaultSpec] = [], duration: UInt64 = 30 * s)
        throws -> ScenarioRunner
    {
        let runner = try ScenarioRunner(
            scenario: Scenario(name: "test", source: "(test)", duration: duration, topology: topology, workloads: workloads, faults: faults))
        _ = try runner.run()
        return runner
    }

    @Test func aOneWayPartitionStopsOnlyOneDirection() throws {
        let runner = try run(
            Self.flatLAN,
            [
                WorkloadSpec(name: "echo-a", node: "a", kind: .udpEcho(port: 7)),
                WorkloadSpec(name: "echo-b", node: "b", kind: .udpEcho(port: 7)),
                Self.client("a-to-b", on: "a", .udp, to: "b:7"),
                Self.client("b-to-a", on: "b", .udp, to: "a:7"),
            ],
            faults: [FaultSpec(at: 0, kind: .partition(a: ["a"], b: ["b"], oneWay: true))])
        // a→b datagrams are dropped, so neither client hears an echo from the other side...
        #expect(runner.log(of: "a-to-b")?.succeeded == 0)
        #expect(runner.log(of: "b-to-a")?.succeeded == 0)
        // ...but b's ten requests did reach a; a's requests and a's echoes (10 + 10) were dropped.
        #expect(runner.simulator.deliveredPackets == 10)
        #expect(runner.simulator.droppedPackets == 20)
    }

    @Test func aPartitionThatHealsLosesOnlyWhatWasSentDuringIt() throws {
        let runner = try run(
            Self.flatLAN,
            [WorkloadSpec(name: "web", node: "b", kind: .httpServer(port: 80, podName: "web-0")),
             Self.client("probe", on: "a", .http, to: "b:80", count: 20, timeout: 2 * Self.s)],
            faults: [FaultSpec(at: 5 * Self.s + Self.s / 2, duration: 5 * Self.s, kind: .partition(a: ["a"], b: ["b"], oneWay: false))])
        let log = try #require(runner.log(of: "probe"))
        #expect(log.attempted == 20)
        // Requests at 6-9 s fail: their SYN and its retransmission 1 s later fall in the partition,
        // and the next retransmission (3 s) is past the 2 s timeout. The one at 10 s loses its
        // SYN but the retransmission at 11 s, after the heal, gets through.
        #expect(log.succeeded == 16)
    }

    static let cloudAndEdge = TopologySpec(
        networks: [
            .init(name: "internet", subnet: IPv4Prefix("203.0.113.0/24")!),
            .init(name: "cloud", subnet: IPv4Prefix("10.0.0.0/24")!, router: "cloud-gw", isCloud: true),
            .init(name: "edge", subnet: IPv4Prefix("192.168.1.0/24")!, router: "edge-nat"),
        ],
        routers: [
            .init(name: "cloud-gw", upstream: "internet"),
            .init(name: "edge-nat", upstream: "internet", nat: NATConfiguration()),
        ],
        nodes: [.init(name: "api", network: "cloud"), .init(name: "edge-1", network: "edge"), .init(name: "edge-2", network: "edge")])

    @Test func whileTheCloudIsUnreachableEdgeNodesStillReachEachOther() throws {
        let runner = try run(
            Self.cloudAndEdge,
            [WorkloadSpec(name: "api-server", node: "api", kind: .httpServer(port: 6443, podName: "api")),
             WorkloadSpec(name: "local", node: "edge-2", kind: .httpServer(port: 80, podName: "local")),
             Self.client("to-cloud", on: "edge-1", .http, to: "api:6443", count: 20, timeout: 500 * Self.ms),
             Self.client("to-neighbour", on: "edge-1", .http, to: "edge-2:80", count: 20, timeout: 500 * Self.ms)],
            faults: [FaultSpec(at: 5 * Self.s + Self.s / 2, duration: 10 * Self.s, kind: .cloudUnreachable)])
        #expect(runner.log(of: "to-cloud")?.succeeded == 10, "requests at 6...15 s fall in the outage")
        #expect(runner.log(of: "to-neighbour")?.succeeded == 20)
    }

    @Test func aFlappingLinkLosesOnlyWhatFallsInItsDownTimes() throws {
        // Down 2 s, up 3 s, from 10.25 s on: down during [10.25,12.25), [15.25,17.25), [20.25,22.25)...
        let runner = try run(
            Self.flatLAN,
            [WorkloadSpec(name: "echo", node: "b", kind: .udpEcho(port: 7)),
             Self.client("probe", on: "a", .udp, to: "b:7", count: 40, every: Self.s / 2, timeout: 100 * Self.ms)],
            faults: [FaultSpec(at: 10 * Self.s + Self.s / 4, duration: 20 * Self.s, kind: .flap(node: "b", down: 2 * Self.s, up: 3 * Self.s))])
        let log = try #require(runner.log(of: "probe"))
        #expect(log.attempted == 40)
        // Requests every 0.5 s from 1 s to 20.5 s: those at 10.5-12, 15.5-17 and 20.5 fail.
        #expect(log.attempted - log.succeeded == 9)
    }

    @Test func aCrashedNodeForgetsItsConnectionsKeepsItsStoreAndServesAgainAfterBoot() throws {
        let sim = try Simulator(seed: 1, topology: Self.flatLAN)
        let b = sim.host(named: "b")!
        var stored: ByteBuffer?
        try sim.onBoot(of: "b") { host in
            UDPEchoServerWorkload.start(on: host, port: 7)
        }
        _ = b.store.save("snapshot", ByteBuffer(string: "services v42"))
        let log = RequestLog()
        let client = ClientWorkload(
            kind: .udp, targets: [HostPort(host: "b", port: 7)], firstRequestAt: .uptimeNanoseconds(Self.s),
            interval: .seconds(1), count: 30, timeout: .milliseconds(500), payloadSize: 16)
        client.start(on: sim.host(named: "a")!, resolver: { [sim] in sim.resolve($0) }, log: log)
        sim.schedule(at: 10 * Self.s + Self.s / 2) { try! sim.crash("b") }
        sim.schedule(at: 20 * Self.s + Self.s / 2) { try! sim.boot("b") }
        sim.run(until: 40 * Self.s)
        #expect(log.attempted == 30)
        #expect(log.succeeded == 20, "requests 10...19 went to a powered-off node")
        b.store.load("snapshot").whenSuccess { stored = $0 }
        sim.run(for: 1)
        #expect(stored.map { String(buffer: $0) } == "services v42")
    }

    @Test func crashingANodeWithTimersAndRequestsInFlightLosesThemQuietly() throws {
        // The client's node crashes with requests scheduled and a connection half open; it boots
        // again and the requests still ahead of it run. (NIO traps in debug builds if a dropped
        // timer's promise is ever freed unfulfilled: this run would crash if that happened.)
        let runner = try run(
            Self.flatLAN,
            [WorkloadSpec(name: "web", node: "b", kind: .httpServer(port: 80, podName: "web-0")),
             Self.client("probe", on: "a", .http, to: "b:80", count: 20, every: Self.s, timeout: 3 * Self.s)],
            faults: [FaultSpec(at: 5 * Self.s + 1, duration: 5 * Self.s, kind: .crash(node: "a"))])
        let log = try #require(runner.log(of: "probe"))
        // Requests at 1-5 s completed before the crash; those due at 6-10 s were never sent; 11-20 s ran after boot.
        #expect(log.attempted == 15)
        #expect(log.succeeded == 15)
    }

    @Test func anInboundSYNToANATIsDroppedNotRefused() throws {
        let sim = try Simulator(seed: 1, topology: Self.homeBehind(NATConfiguration()))
        let server = sim.host(named: "server")!
        let natAddress = sim.node(named: "nat")!.addresses[0]
        var outcome: Result<Channel, Error>?
        server.connectStream(StreamConnectOptions(remote: natAddress.socketAddress(port: 22), connectTimeout: .seconds(5))) {
            $0.eventLoop.makeSucceededVoidFuture()
        }.whenComplete { outcome = $0 }
        sim.run(until: 10 * Self.s) { outcome == nil }
        guard case .failure(let error as HostError) = outcome else {
            Issue.record("expected a timeout, got \(String(describing: outcome))")
            return
        }
        #expect(error == .connectTimeout(natAddress.socketAddress(port: 22)))
    }

    @Test func aNATRebootForgetsTheMappingsItHad() throws {
        let nat = NATConfiguration(mapping: .endpointIndependent, filtering: .addressAndPortDependent)
        let sim = try Simulator(seed: 1, topology: Self.homeBehind(nat))
        let natDevice = try #require(sim.node(named: "nat")?.nat)
        let laptop = sim.host(named: "laptop")!, server = sim.host(named: "server")!
        _ = UDPEchoServerWorkload.start(on: server, port: 7)
        sim.run(for: 1)
        let log = RequestLog()
        ClientWorkload(
            kind: .udp, targets: [HostPort(host: "server", port: 7)], firstRequestAt: .uptimeNanoseconds(Self.s),
            interval: .seconds(1), count: 1, timeout: .seconds(1), payloadSize: 8
        ).start(on: laptop, resolver: { [sim] in sim.resolve($0) }, log: log)
        sim.run(until: 3 * Self.s)
        #expect(log.succeeded == 1)
        #expect(natDevice.mappingCount(now: sim.now) == 1)
        try sim.rebootNAT("nat")
        #expect(natDevice.mappingCount(now: sim.now) == 0)
    }

    @Test func outboundTrafficCrossesADoubleNAT() throws {
        let topology = TopologySpec(
            networks: [
                .init(name: "internet", subnet: IPv4Prefix("203.0.113.0/24")!),
                .init(name: "carrier", subnet: IPv4Prefix("100.64.0.0/24")!, router: "cgnat"),
                .init(name: "home", subnet: IPv4Prefix("192.168.1.0/24")!, router: "home-nat"),
            ],
            routers: [
                .init(name: "cgnat", upstream: "internet", nat: NATConfiguration(mapping: .addressAndPortDependent)),
                .init(name: "home-nat", upstream: "carrier", nat: NATConfiguration()),
            ],
            nodes: [.init(name: "server", network: "internet"), .init(name: "laptop", network: "home")])
        let runner = try run(
            topology,
            [WorkloadSpec(name: "web", node: "server", kind: .httpServer(port: 80, podName: "web-0")),
             Self.client("probe", on: "laptop", .http, to: "server:80"),
             WorkloadSpec(name: "echo", node: "server", kind: .udpEcho(port: 7)),
             Self.client("udp", on: "laptop", .udp, to: "server:7")])
        #expect(runner.log(of: "probe")?.successRatio == 1)
        #expect(runner.log(of: "udp")?.successRatio == 1)
    }

    @Test(arguments: [true, false])
    func hairpinningDecidesWhetherNeighboursMeetThroughTheExternalAddress(hairpinning: Bool) throws {
        var nat = NATConfiguration(mapping: .endpointIndependent, filtering: .endpointIndependent, portPreservation: true)
        nat.hairpinning = hairpinning
        let sim = try Simulator(seed: 1, topology: Self.homeBehind(nat))
        let phone = sim.host(named: "phone")!, laptop = sim.host(named: "laptop")!, server = sim.host(named: "server")!
        let natAddress = sim.node(named: "nat")!.addresses[0]
        // A discard port on the server, and the phone's echo socket announcing itself there, which
        // maps phone:5000 to nat:5000 (port preservation).
        _ = server.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 9))) { _ in
            server.eventLoop.makeSucceededVoidFuture()
        }
        UDPEchoServerWorkload.start(on: phone, port: 5000).whenSuccess { channel in
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: server.address.socketAddress(port: 9), data: ByteBuffer(string: "hi")), promise: nil)
        }
        sim.run(for: Self.s)
        let log = RequestLog()
        ClientWorkload(
            kind: .udp, targets: [HostPort(host: natAddress.description, port: 5000)],
            firstRequestAt: .uptimeNanoseconds(sim.now + Self.s), interval: .seconds(1), count: 3, timeout: .seconds(1),
            payloadSize: 8
        ).start(on: laptop, resolver: { [sim] in sim.resolve($0) }, log: log)
        sim.run(for: 10 * Self.s)
        #expect(log.attempted == 3)
        #expect(log.succeeded == (hairpinning ? 3 : 0))
    }

    @Test func aNetworkThatBlocksUDPStillCarriesTCP() throws {
        let runner = try run(
            Self.homeBehind(NATConfiguration(blocksUDP: true)),
            [WorkloadSpec(name: "web", node: "server", kind: .httpServer(port: 80, podName: "web-0")),
             WorkloadSpec(name: "echo", node: "server", kind: .udpEcho(port: 7)),
             Self.client("http", on: "laptop", .http, to: "server:80"),
             Self.client("udp", on: "laptop", .udp, to: "server:7")])
        #expect(runner.log(of: "http")?.successRatio == 1)
        #expect(runner.log(of: "udp")?.succeeded == 0)
    }

    @Test func tcpRidesOutAShortOutageAndIsResetByALongOne() throws {
        for (outage, expectReset) in [(20 * Self.s, false), (150 * Self.s, true)] {
            let sim = try Simulator(seed: 1, topology: Self.flatLAN)
            let a = sim.host(named: "a")!, b = sim.host(named: "b")!
            _ = TCPEchoServerWorkload.start(on: b, port: 7)
            sim.run(for: 1)
            let collector = StreamCollector()
            var channel: Channel?
            a.connectStream(StreamConnectOptions(remote: b.address.socketAddress(port: 7))) { $0.pipeline.addHandler(collector) }
                .whenSuccess { channel = $0 }
            sim.run(for: Self.s)
            try sim.setLink(of: "b", direction: .both, up: false)
            channel?.writeAndFlush(ByteBuffer(repeating: 7, count: 100_000), promise: nil)
            sim.run(for: outage)
            try sim.setLink(of: "b", direction: .both, up: true)
            sim.run(for: 120 * Self.s)
            if expectReset {
                #expect(collector.error as? HostError == .connectionReset, "an outage past the user timeout resets")
                #expect(collector.received < 100_000)
            } else {
                #expect(collector.error == nil)
                #expect(collector.received == 100_000, "retransmission carries the data once the link is back")
            }
        }
    }
}

/// Counts bytes and remembers the first error.
final class StreamCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var received = 0
    var error: Error?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += unwrapInboundIn(data).readableBytes
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if self.error == nil { self.error = error }
    }
}
