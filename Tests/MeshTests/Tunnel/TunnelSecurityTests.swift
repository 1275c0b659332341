import Logging
import Mesh
import NIOCore
import Testing

@testable import NetSim

/// A simulated host that tells the mesh it is another node (an impostor's agent).
final class ImpersonatingHost: Host, @unchecked Sendable {
    let base: SimHost
    let name: String
    init(_ base: SimHost, claiming name: String) {
        self.base = base
        self.name = name
    }
    var eventLoop: EventLoop { base.eventLoop }
    var wallClock: WallClock { base.wallClock }
    var random: MeshRandom { base.random }
    var logger: Logger { base.logger }
    var interfaces: [NetworkInterface] { base.interfaces }
    func watchInterfaces(_ changed: @escaping @Sendable () -> Void) -> InterfaceWatch { base.watchInterfaces(changed) }
    var interception: TrafficInterception { base.interception }
    var store: DurableStore { base.store }
    func listenStream(_ options: StreamListenOptions, childInitializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>)
        -> EventLoopFuture<Channel>
    { base.listenStream(options, childInitializer: childInitializer) }
    func connectStream(_ options: StreamConnectOptions, initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>)
        -> EventLoopFuture<Channel>
    { base.connectStream(options, initializer: initializer) }
    func bindDatagram(_ options: DatagramBindOptions, initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>)
        -> EventLoopFuture<Channel>
    { base.bindDatagram(options, initializer: initializer) }
    func originalDestination(of channel: Channel) -> EventLoopFuture<SocketAddress?> { base.originalDestination(of: channel) }
    func resetStream(_ channel: Channel) { base.resetStream(channel) }
    func openPacketInterface(
        _ options: PacketInterfaceOptions, initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<PacketInterface> { base.openPacketInterface(options, initializer: initializer) }
}

/// Flips one bit in the next large outbound write once armed: an attacker on the path.
final class BitFlipper: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    var armed = false
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var buffer = unwrapOutboundIn(data)
        if armed, buffer.readableBytes > 40 {
            armed = false
            let index = buffer.readerIndex + buffer.readableBytes - 20
            buffer.setInteger(buffer.getInteger(at: index, as: UInt8.self)! ^ 0x04, at: index)
        }
        context.write(wrapOutboundOut(buffer), promise: promise)
    }
}

/// A path that connects straight to the peer's tunnel port, through a `BitFlipper`.
final class TamperingDialer: PeerPathDialer, @unchecked Sendable {
    let kind = PeerPathKind.holePunched
    let host: SimHost
    let remote: SocketAddress
    let flipper = BitFlipper()
    init(host: SimHost, remote: SocketAddress) {
        self.host = host
        self.remote = remote
    }
    func dial(node: String) -> EventLoopFuture<Channel> {
        host.connectStream(StreamConnectOptions(remote: remote)) { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(self.flipper) }
        }
    }
}

/// Who may open a tunnel, and what happens to those who may not: each attempt is refused, the
/// refusing agent carries on, and nothing crashes.
@Suite struct TunnelSecurityTests {
    static let s = TunnelTestBed.s
    static let port: UInt16 = 20006

    static func logLines(_ bed: TunnelTestBed) -> LogLines {
        let lines = LogLines()
        bed.sim.logLevel = .info
        bed.sim.logSink = { lines.value.append($0) }
        return lines
    }

    @Test func aNodeWithTheWrongPSKGetsNoAnswerAtAll() throws {
        let bed = try TunnelTestBed(nodes: ["a", "b", "c"], secrets: ["c": "a guess"])
        let log = Self.logLines(bed)
        let (outcome, _) = bed.open(from: "c", to: bed.target("b"))
        guard case .failure(TunnelError.noPath(_, let attempts)) = outcome else {
            Issue.record("expected noPath, got \(String(describing: outcome))")
            return
        }
        #expect(attempts.first?.contains("gave no answer") == true)
        // Not one byte came back from b.
        #expect(bed.status(of: "c", peer: "b")?.bytesReceived == 0)
        #expect(bed.status(of: "c", peer: "b")?.bytesSent ?? 0 > 0)
        #expect(log.value.contains { $0.contains(" b warning: tunnel: handshake ignored: its MAC does not verify") })
        // b serves the rest of the cluster as before.
        let (channel, recorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        channel.writeAndFlush(ByteBuffer(string: "ok"), promise: nil)
        bed.run(for: 5 * Self.s) { recorder.byteCount < 2 }
        #expect(recorder.bytes == ByteBuffer(string: "ok"))
    }

    @Test func aPeerHoldingADifferentKeyThanItsBindingIsNeitherAnsweredNorTrusted() throws {
        let bed = try TunnelTestBed()
        // The cluster says b's key is another one (a stale annotation, or an impostor at b's address).
        var random = NoiseTestRandomForNetSim(seed: 9)
        bed.keys.keys["b"] = NoiseKeyPair.generate(using: &random).publicKey
        let (outcome, _) = bed.open(from: "a", to: bed.target("b"))
        guard case .failure(TunnelError.noPath(_, let attempts)) = outcome else {
            Issue.record("expected noPath, got \(String(describing: outcome))")
            return
        }
        #expect(attempts.first?.contains("holds a different key than its Node annotation says") == true)
        #expect(bed.status(of: "a", peer: "b")?.bytesReceived == 0)
    }

    @Test func anInitiatorWhoseKeyIsNotBoundToItsNameIsRefused() throws {
        let bed = try TunnelTestBed(nodes: ["a", "b", "c"])
        let log = Self.logLines(bed)
        var random = NoiseTestRandomForNetSim(seed: 10)
        bed.keys.keys["c"] = NoiseKeyPair.generate(using: &random).publicKey
        let (outcome, _) = bed.open(from: "c", to: bed.target("b"))
        guard case .failure(let error) = outcome else {
            Issue.record("expected a failure, got \(String(describing: outcome))")
            return
        }
        #expect(error is TunnelError)
        #expect(bed.status(of: "b", peer: "c") == nil)
        #expect(log.value.contains { $0.contains(" b info: tunnel: handshake failed") && $0.contains("but its key") })
    }

    @Test func aNodeClaimingAnothersNameIsRefused() throws {
        let bed = try TunnelTestBed(nodes: ["a", "b", "c"])
        let log = Self.logLines(bed)
        // c's agent says it is a; it has its own key, which the cluster binds to c, not to a.
        let impostorHost = ImpersonatingHost(bed.sim.host(named: "c")!, claiming: "a")
        let addresses = bed.addresses
        let impostor = MeshTunnel(
            host: impostorHost, configuration: TunnelConfiguration(port: 20007, presharedKey: try TunnelPresharedKey(secret: "cluster secret")),
            keys: bed.keys, dialers: [DirectPathDialer(host: impostorHost, port: 20006) { addresses[$0].map { [$0] } ?? [] }])
        var started = false
        impostor.start().whenSuccess { started = true }
        bed.run(for: Self.s) { !started }
        var outcome: Result<Channel, Error>?
        impostor.openStream(to: bed.target("b"), on: impostorHost.eventLoop).whenComplete { outcome = $0 }
        bed.run(for: 30 * Self.s) { outcome == nil }
        guard case .failure = outcome else {
            Issue.record("the impostor got a stream: \(String(describing: outcome))")
            return
        }
        #expect(log.value.contains { $0.contains(" b info: tunnel: handshake failed") && $0.contains("says it is node \"a\" but its key") })
        // b holds no connection for "a" from the impostor; the real a still gets through.
        #expect(bed.status(of: "b", peer: "a") == nil)
        let (channel, recorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        channel.writeAndFlush(ByteBuffer(string: "real a"), promise: nil)
        bed.run(for: 5 * Self.s) { recorder.byteCount < 6 }
        #expect(recorder.bytes == ByteBuffer(string: "real a"))
    }

    @Test func aReplayedInitiationIsAnsweredOnlyOnce() throws {
        let bed = try TunnelTestBed(nodes: ["a", "b", "c"])
        let log = Self.logLines(bed)
        let a = bed.sim.host(named: "a")!
        let psk = try TunnelPresharedKey(secret: "cluster secret")
        let bKey = try #require(bed.keys.keys["b"])
        var random = NoiseTestRandomForNetSim(seed: 11)
        var handshake = try NoiseHandshake(
            role: .initiator, staticKey: bed.tunnel("a").identity!.keyPair, presharedKey: psk.bytes,
            prologue: Array("edgemesh tunnel v1".utf8), random: &random, peerKeyValidator: { $0 == bKey })
        let body = HandshakeInitiationGate(presharedKey: psk, responderStaticKey: bKey)
            .seal(message1: try handshake.writeMessage(payload: []), timestamp: a.wallClock.nanosecondsSinceEpoch)
        var framed = ByteBuffer()
        framed.writeInteger(UInt16(1 + body.count))
        framed.writeInteger(UInt8(1))
        framed.writeBytes(body)
        let record = framed

        // The captured initiation is sent twice, on two connections (from another node, as an
        // attacker would).
        var answered: [Int] = []
        for _ in 0..<2 {
            let recorder = StreamRecorder()
            var connected = false
            bed.sim.host(named: "c")!.connectStream(StreamConnectOptions(remote: bed.addresses["b"]!.socketAddress(port: Self.port))) {
                $0.pipeline.addHandler(recorder)
            }.whenSuccess { channel in
                connected = true
                channel.writeAndFlush(record, promise: nil)
            }
            bed.run(for: 3 * Self.s) { true }
            #expect(connected)
            answered.append(recorder.byteCount)
        }
        #expect(answered[0] > 0)
        #expect(answered[1] == 0)
        #expect(log.value.contains { $0.contains("already answered (a replay)") })
    }

    @Test func aTamperedFrameClosesOnlyThatConnectionAndTheTunnelRecovers() throws {
        let bed = try TunnelTestBed()
        let log = Self.logLines(bed)
        bed.directReachable = []
        let dialer = TamperingDialer(host: bed.sim.host(named: "a")!, remote: bed.addresses["b"]!.socketAddress(port: Self.port))
        bed.tunnel("a").addDialer(dialer)
        let (channel, recorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        #expect(bed.status(of: "a", peer: "b")?.path == .holePunched)
        dialer.flipper.armed = true
        channel.writeAndFlush(ByteBuffer.pattern(1000), promise: nil)
        bed.run(for: 10 * Self.s) { !recorder.closed }
        #expect(recorder.closed)
        #expect(recorder.byteCount == 0)
        #expect(recorder.lostConnection)
        #expect(log.value.contains { $0.contains(" b info: tunnel: connection closed") && $0.contains("decryption failed") })
        // A new stream makes a new connection and works.
        let (again, againRecorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        again.writeAndFlush(ByteBuffer(string: "clean"), promise: nil)
        bed.run(for: 5 * Self.s) { againRecorder.byteCount < 5 }
        #expect(againRecorder.bytes == ByteBuffer(string: "clean"))
    }
}

/// The simulator's log lines, collected.
final class LogLines {
    var value: [String] = []
}

/// SplitMix64 for reproducible test keys.
struct NoiseTestRandomForNetSim: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
