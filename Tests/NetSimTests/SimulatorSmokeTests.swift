import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// Echoes every byte back (a TCP echo server's child handler).
final class EchoBytesHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }
}

/// Collects what arrives.
final class CollectHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var received = ByteBuffer()
    var closed = false
    /// The first error the connection reported (a reset shows up here).
    var error: Error?
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received.writeBuffer(&buffer)
    }
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if self.error == nil { self.error = error }
        context.fireErrorCaught(error)
    }
    func channelInactive(context: ChannelHandlerContext) {
        closed = true
    }
}

@Suite struct SimulatorSmokeTests {
    static func lan(_ nodes: [String], link: LinkSpec = .ideal) throws -> Simulator {
        try Simulator(
            seed: 1,
            topology: TopologySpec(
                networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/24")!)],
                nodes: nodes.map { .init(name: $0, network: "lan", link: link) }))
    }

    @Test func tcpEchoAcrossALossyLan() throws {
        let lossy = LinkSpec(both: LinkProfile(latency: 5 * Nanoseconds.millisecond, jitter: Nanoseconds.millisecond, loss: 0.05))
        let sim = try Self.lan(["a", "b"], link: lossy)
        let a = sim.host(named: "a")!, b = sim.host(named: "b")!
        _ = b.listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: 7))) { channel in
            channel.pipeline.addHandler(EchoBytesHandler())
        }
        let collector = CollectHandler()
        var message = ByteBuffer()
        for i in 0..<200_000 { message.writeInteger(UInt8(truncatingIfNeeded: i)) }
        let sent = message
        a.connectStream(StreamConnectOptions(remote: b.address.socketAddress(port: 7))) { channel in
            channel.pipeline.addHandler(collector)
        }.whenSuccess { channel in
            channel.writeAndFlush(sent, promise: nil)
        }
        var lines: [String] = []
        sim.trace.textSink = { lines.append($0); if lines.count > 40 { lines.removeFirst() } }
        sim.run(until: 60 * Nanoseconds.second) { collector.received.readableBytes < sent.readableBytes }
        if collector.received != sent { print(lines.joined(separator: "\n")) }
        #expect(collector.received == sent)
        #expect(sim.droppedPackets > 0)
    }

    @Test func connectingToAClosedPortIsRefused() throws {
        let sim = try Self.lan(["a", "b"])
        let a = sim.host(named: "a")!, b = sim.host(named: "b")!
        var outcome: Result<Channel, Error>?
        a.connectStream(StreamConnectOptions(remote: b.address.socketAddress(port: 9))) { _ in
            a.eventLoop.makeSucceededVoidFuture()
        }.whenComplete { outcome = $0 }
        sim.run(until: 10 * Nanoseconds.second) { outcome == nil }
        guard case .failure(let error as HostError) = outcome else {
            Issue.record("expected a HostError, got \(String(describing: outcome))")
            return
        }
        #expect(error == .connectionRefused(b.address.socketAddress(port: 9)))
    }

    @Test func hostLogsCarryVirtualTimeAndTheNodeName() throws {
        let sim = try Self.lan(["a"])
        var lines: [String] = []
        sim.logSink = { lines.append($0) }
        sim.logLevel = .info
        let a = sim.host(named: "a")!
        sim.schedule(at: 2 * Nanoseconds.second + 5 * Nanoseconds.millisecond) {
            a.logger.info("snapshot saved", metadata: ["services": "12", "bytes": "3400"])
            a.logger.debug("below the level")
        }
        sim.run(until: 3 * Nanoseconds.second)
        #expect(lines == ["2.005s a info: snapshot saved [bytes=3400 services=12]"])
    }
}
