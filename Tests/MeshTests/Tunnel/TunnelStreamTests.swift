import Mesh
import NIOCore
import Testing

@testable import NetSim

/// Streams through the tunnel between two agents on one simulated LAN, as the proxy uses them.
@Suite struct TunnelStreamTests {
    static let s = TunnelTestBed.s
    static let ms = TunnelTestBed.ms

    @Test func aTCPStreamReachesTheEchoOnTheOtherNodeOverADirectPath() throws {
        let bed = try TunnelTestBed()
        let (channel, recorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        channel.writeAndFlush(ByteBuffer(string: "hello through the tunnel"), promise: nil)
        bed.run(for: 5 * Self.s) { recorder.byteCount < 24 }
        #expect(recorder.bytes == ByteBuffer(string: "hello through the tunnel"))
        // Keepalives measure the RTT (two 1 ms hops each way on the LAN).
        bed.run(for: 15 * Self.s) { true }
        let status = try #require(bed.status(of: "a", peer: "b"))
        #expect(status.path == .direct)
        #expect(status.openStreams == 1)
        #expect(status.roundTripTime.map { $0 >= .milliseconds(2) && $0 < .milliseconds(50) } == true)
        #expect(status.bytesSent > 24 && status.bytesReceived > 24)
        #expect(status.lastFailure == nil)
        // The far side knows the peer by the name it proved.
        #expect(bed.status(of: "b", peer: "a")?.path == .direct)
    }

    @Test func aHalfCloseTravelsAndTheStreamEndsCleanly() throws {
        let bed = try TunnelTestBed()
        let (channel, recorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        _ = channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        channel.writeAndFlush(ByteBuffer(string: "last words"), promise: nil)
        channel.close(mode: .output, promise: nil)
        // The echo answers, sees our end of input and closes; its end arrives as inputClosed.
        bed.run(for: 5 * Self.s) { !recorder.closed }
        #expect(recorder.bytes == ByteBuffer(string: "last words"))
        #expect(recorder.inputClosed)
        #expect(recorder.errors.isEmpty)
        #expect(bed.status(of: "a", peer: "b")?.openStreams == 0)
    }

    @Test func aUDPStreamKeepsDatagramBoundaries() throws {
        let bed = try TunnelTestBed()
        let (channel, recorder) = try bed.openChannel(from: "a", to: bed.target("b", .udp))
        let sizes = [1, 1000, 1400, 7, 9000]
        for size in sizes { channel.write(ByteBuffer.pattern(size), promise: nil) }
        channel.flush()
        bed.run(for: 5 * Self.s) { recorder.buffers.count < sizes.count }
        #expect(recorder.buffers.map(\.readableBytes) == sizes)
        #expect(recorder.buffers.last == ByteBuffer.pattern(9000))
    }

    @Test func fourMebibytesArriveIntactAndInOrder() throws {
        let bed = try TunnelTestBed()
        let sink = StreamRecorder()
        _ = bed.sim.host(named: "b")!.listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: 9))) {
            $0.pipeline.addHandler(sink)
        }
        let (channel, _) = try bed.openChannel(from: "a", to: bed.target("b", port: 9))
        let payload = ByteBuffer.pattern(4 * 1024 * 1024)
        channel.writeAndFlush(payload, promise: nil)
        bed.run(for: 120 * Self.s) { sink.byteCount < payload.readableBytes }
        #expect(sink.byteCount == payload.readableBytes)
        #expect(sink.bytes == payload)
    }

    @Test func aTargetThatRefusesFailsTheOpenWithThatReason() throws {
        let bed = try TunnelTestBed()
        let (outcome, _) = bed.open(from: "a", to: bed.target("b", port: 9))
        guard case .failure(TunnelError.targetUnreachable(let target, let failure)) = outcome else {
            Issue.record("expected targetUnreachable, got \(String(describing: outcome))")
            return
        }
        #expect(target.port == 9)
        #expect(failure.reason == .refused)
        #expect("\(TunnelError.targetUnreachable(target, failure))".contains("refused"))
        // The connection stays up for other streams.
        let (channel, recorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        channel.writeAndFlush(ByteBuffer(string: "still here"), promise: nil)
        bed.run(for: 5 * Self.s) { recorder.byteCount < 10 }
        #expect(recorder.bytes == ByteBuffer(string: "still here"))
    }

    @Test func theFarAgentRefusesTargetsItsPolicyDoesNotAllow() throws {
        // Only the echo port on the node itself may be dialed through this tunnel.
        let bed = try TunnelTestBed {
            $0.targetPolicy = TunnelTargetPolicy { target, node in
                target.node == node && target.port == 7 ? nil : "this node's policy does not allow \(target.address):\(target.port)"
            }
        }
        let (outcome, _) = bed.open(from: "a", to: bed.target("b", port: 22))
        guard case .failure(TunnelError.targetUnreachable(_, let failure)) = outcome else {
            Issue.record("expected targetUnreachable, got \(String(describing: outcome))")
            return
        }
        #expect(failure.reason == .notAllowed)
        #expect(failure.detail.contains("policy does not allow"))
    }

    @Test func aSlowReaderHoldsBackOnlyItsOwnStreamAndItsSender() throws {
        let bed = try TunnelTestBed()
        // A server on b that sends 2 MiB as soon as a client connects (more than the tunnel and
        // the sockets between can hold).
        let payload = ByteBuffer.pattern(2 * 1024 * 1024)
        let source = SourceHandler(payload)
        _ = bed.sim.host(named: "b")!.listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: 19))) {
            $0.pipeline.addHandler(source)
        }
        let (slow, slowRecorder) = try bed.openChannel(from: "a", to: bed.target("b", port: 19))
        _ = slow.setOption(ChannelOptions.autoRead, value: false)
        bed.run(for: 20 * Self.s) { true }
        // At most one read's worth arrived, and the server is held back: its bytes wait in its
        // own socket because the tunnel stream's window is shut.
        #expect(slowRecorder.byteCount < 1024 * 1024)
        #expect(!source.sent)

        // Meanwhile another stream on the same connection flows freely.
        let (fast, fastRecorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        let small = ByteBuffer.pattern(300_000)
        fast.writeAndFlush(small, promise: nil)
        bed.run(for: 20 * Self.s) { fastRecorder.byteCount < small.readableBytes }
        #expect(fastRecorder.bytes == small)
        #expect(bed.status(of: "a", peer: "b")?.openStreams == 2)

        // The slow reader starts reading: everything arrives, in order.
        _ = slow.setOption(ChannelOptions.autoRead, value: true)
        bed.run(for: 60 * Self.s) { slowRecorder.byteCount < payload.readableBytes }
        #expect(slowRecorder.bytes == payload)
        #expect(source.sent)
    }

    /// Handlers configure a channel in place through `syncOptions` (the proxy's HTTP/2 backend
    /// session turns `autoRead` back on that way); on a tunnel stream that did nothing, and
    /// each gRPC answer across the tunnel waited for the next call on its connection.
    @Test func optionsSetSynchronouslyTakeEffect() throws {
        let bed = try TunnelTestBed()
        let (stream, recorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        let options = try #require(stream.syncOptions, "a tunnel stream offers synchronous options")
        try options.setOption(ChannelOptions.autoRead, value: false)
        #expect(try options.getOption(ChannelOptions.autoRead) == false)
        stream.writeAndFlush(ByteBuffer(string: "first"), promise: nil)
        bed.run(for: Self.s) { true }
        stream.writeAndFlush(ByteBuffer(string: " second"), promise: nil)
        bed.run(for: Self.s) { true }
        #expect(recorder.byteCount <= 5, "without reads asked for, at most one read's worth arrives")
        try options.setOption(ChannelOptions.autoRead, value: true)
        bed.run(for: Self.s) { recorder.byteCount < 12 }
        #expect(recorder.bytes == ByteBuffer(string: "first second"), "and with auto-read back on, everything does")
    }

    @Test func aLinkOutageShorterThanTheKeepaliveToleranceKeepsTheStream() throws {
        let bed = try TunnelTestBed()
        let (channel, recorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        channel.writeAndFlush(ByteBuffer(string: "before"), promise: nil)
        bed.run(for: 2 * Self.s) { recorder.byteCount < 6 }
        // 15 s without a packet either way: longer than a keepalive interval (10 s), shorter
        // than the tolerance (35 s).
        let partition = try bed.sim.partition(["a"], from: ["b"])
        bed.run(for: 10 * Self.s) { true }
        channel.writeAndFlush(ByteBuffer(string: "during"), promise: nil)
        bed.run(for: 5 * Self.s) { true }
        bed.sim.heal(partition: partition)
        bed.run(for: 30 * Self.s) { recorder.byteCount < 12 }
        #expect(recorder.bytes == ByteBuffer(string: "beforeduring"))
        #expect(!recorder.closed)
        #expect(recorder.errors.isEmpty)
    }

    @Test func aPeerCrashFailsItsStreamsClearlyAndTheTunnelReconnectsAfterBoot() throws {
        let bed = try TunnelTestBed()
        let keyBefore = try #require(bed.keys.keys["b"])
        let (channel, recorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        channel.writeAndFlush(ByteBuffer(string: "ping"), promise: nil)
        bed.run(for: 2 * Self.s) { recorder.byteCount < 4 }
        try bed.sim.crash("b")
        bed.run(for: 60 * Self.s) { !recorder.closed }
        #expect(recorder.closed)
        let lost = try #require(recorder.errors.first as? TunnelError)
        guard case .connectionLost(let node, let reason) = lost else {
            Issue.record("expected connectionLost, got \(lost)")
            return
        }
        #expect(node == "b")
        #expect(reason.contains("keepalive"))
        #expect(bed.status(of: "a", peer: "b")?.path == nil)
        #expect(bed.status(of: "a", peer: "b")?.lastFailure?.contains("keepalive") == true)

        try bed.sim.boot("b")
        bed.run(for: Self.s) { true }
        // Same key after the reboot: it came from the durable store.
        #expect(bed.tunnel("b").identity?.keyPair.publicKey == keyBefore)
        let (again, againRecorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        again.writeAndFlush(ByteBuffer(string: "back"), promise: nil)
        bed.run(for: 5 * Self.s) { againRecorder.byteCount < 4 }
        #expect(againRecorder.bytes == ByteBuffer(string: "back"))
        #expect(bed.status(of: "a", peer: "b")?.path == .direct)
    }

    @Test func whenNoPathWorksTheErrorSaysWhyForEachPath() throws {
        let bed = try TunnelTestBed()
        bed.directReachable = []
        let (outcome, _) = bed.open(from: "a", to: bed.target("b"))
        guard case .failure(let error as TunnelError) = outcome, case .noPath(let node, let attempts) = error else {
            Issue.record("expected noPath, got \(String(describing: outcome))")
            return
        }
        #expect(node == "b")
        #expect(attempts.count == 1)
        #expect(attempts.first?.hasPrefix("direct: no address is known for node \"b\"") == true)
        #expect(bed.status(of: "a", peer: "b")?.lastFailure == error.description)
    }
}

/// Writes its payload to every connection as soon as it is up, and notes when the socket took
/// all of it.
final class SourceHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let payload: ByteBuffer
    var sent = false
    init(_ payload: ByteBuffer) { self.payload = payload }
    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(NIOAny(payload)).whenSuccess { self.sent = true }
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
