@testable import Mesh
import NIOCore
import Testing

@testable import NetSim

/// A stand-in for the relay: reaches the peer's tunnel port, but reports itself as relayed (the
/// tunnel cannot tell; it only ranks paths by kind).
final class StandInRelayDialer: PeerPathDialer, @unchecked Sendable {
    let kind = PeerPathKind.relayed
    let host: SimHost
    let remote: SocketAddress
    var dials = 0
    init(host: SimHost, remote: SocketAddress) {
        self.host = host
        self.remote = remote
    }
    func dial(node: String) -> EventLoopFuture<Channel> {
        dials += 1
        return host.connectStream(StreamConnectOptions(remote: remote)) { $0.eventLoop.makeSucceededVoidFuture() }
    }
}

/// A path whose dial never gets anywhere: it fails after `givesUpAfter`, as a punch whose
/// SYNs all vanish does.
final class BlackHoleDialer: PeerPathDialer, @unchecked Sendable {
    let kind: PeerPathKind
    let host: SimHost
    let givesUpAfter: TimeAmount
    init(kind: PeerPathKind, host: SimHost, givesUpAfter: TimeAmount) {
        self.kind = kind
        self.host = host
        self.givesUpAfter = givesUpAfter
    }
    func dial(node: String) -> EventLoopFuture<Channel> {
        host.eventLoop.scheduleTask(in: givesUpAfter) { () throws -> Channel in throw HostError.connectTimeout(IPv4Address.any.socketAddress(port: 0)) }
            .futureResult
    }
}

/// Which path a peer's streams take, and how that changes as paths come and go.
@Suite struct TunnelPathTests {
    static let s = TunnelTestBed.s

    @Test func aRelayedPeerUpgradesToDirectAndOldStreamsFinishOnTheRelay() throws {
        let bed = try TunnelTestBed()
        bed.directReachable = []
        let relay = StandInRelayDialer(host: bed.sim.host(named: "a")!, remote: bed.addresses["b"]!.socketAddress(port: 20006))
        bed.tunnel("a").addDialer(relay)
        let (old, oldRecorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        #expect(bed.status(of: "a", peer: "b")?.path == .relayed)
        #expect(bed.status(of: "a", peer: "b")?.lastFailure?.contains("direct:") == true)

        // The direct path appears; within one upgrade interval new streams use it.
        bed.directReachable = ["b"]
        bed.run(for: 35 * Self.s) { bed.status(of: "a", peer: "b")?.path != .direct }
        #expect(bed.status(of: "a", peer: "b")?.path == .direct)
        let (new, newRecorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        new.writeAndFlush(ByteBuffer(string: "new"), promise: nil)
        old.writeAndFlush(ByteBuffer(string: "old"), promise: nil)
        bed.run(for: 5 * Self.s) { newRecorder.byteCount < 3 || oldRecorder.byteCount < 3 }
        #expect(newRecorder.bytes == ByteBuffer(string: "new"))
        #expect(oldRecorder.bytes == ByteBuffer(string: "old"))
        #expect(bed.status(of: "a", peer: "b")?.openStreams == 2)
        #expect(relay.dials == 1)

        // When the old stream ends, the relayed connection is let go at the next check.
        old.close(promise: nil)
        bed.run(for: 35 * Self.s) { true }
        #expect(bed.status(of: "a", peer: "b")?.openStreams == 1)
        #expect(!newRecorder.closed)
    }

    @Test func whenTheDirectPathDiesNewStreamsFallBackToTheRelay() throws {
        let bed = try TunnelTestBed(nodes: ["a", "b"]) { $0.deadAfter = .seconds(15); $0.keepaliveInterval = .seconds(5) }
        let relay = StandInRelayDialer(host: bed.sim.host(named: "a")!, remote: bed.addresses["b"]!.socketAddress(port: 20006))
        bed.tunnel("a").addDialer(relay)
        let (direct, directRecorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        #expect(bed.status(of: "a", peer: "b")?.path == .direct)
        // The direct path goes away for good (for this test: a partition, and the direct dialer
        // no longer finds the address), while the relay still gets through.
        bed.directReachable = []
        let partition = try bed.sim.partition(["a"], from: ["b"])
        bed.run(for: 30 * Self.s) { !directRecorder.closed }
        #expect(directRecorder.closed)
        bed.sim.heal(partition: partition)
        let (fallback, fallbackRecorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        fallback.writeAndFlush(ByteBuffer(string: "via relay"), promise: nil)
        bed.run(for: 5 * Self.s) { fallbackRecorder.byteCount < 9 }
        #expect(fallbackRecorder.bytes == ByteBuffer(string: "via relay"))
        #expect(bed.status(of: "a", peer: "b")?.path == .relayed)
        _ = direct
    }

    @Test func nodesOnOneLANFindEachOtherWithoutTheCloud() throws {
        let bed = try TunnelTestBed(nodes: ["a", "b", "c"])
        // No Node addresses at all (the API server is gone): only what the beacons tell.
        bed.directReachable = []
        let a = bed.tunnel("a")
        a.addDialer(DirectPathDialer(host: a.host, port: 20006) { [unowned a] in a.lanAddresses(ofNode: $0) })
        bed.run(for: 11 * Self.s) { true }
        #expect(a.lanAddresses(ofNode: "b") == [bed.addresses["b"]!])
        #expect(a.lanAddresses(ofNode: "c") == [bed.addresses["c"]!])
        #expect(a.lanAddresses(ofNode: "a").isEmpty)
        let (channel, recorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        channel.writeAndFlush(ByteBuffer(string: "offline"), promise: nil)
        bed.run(for: 5 * Self.s) { recorder.byteCount < 7 }
        #expect(recorder.bytes == ByteBuffer(string: "offline"))
        #expect(bed.status(of: "a", peer: "b")?.path == .direct)
    }

    @Test func aBeaconFromANodeWithoutThePSKIsIgnored() throws {
        let bed = try TunnelTestBed(nodes: ["a", "b", "c"], secrets: ["c": "outsider"])
        bed.run(for: 11 * Self.s) { true }
        #expect(bed.tunnel("a").lanAddresses(ofNode: "b") == [bed.addresses["b"]!])
        #expect(bed.tunnel("a").lanAddresses(ofNode: "c").isEmpty)
    }

    /// A PSK holder's beacon may carry any time: one at either end of Int64 is ignored, and
    /// the agent that heard it goes on (the subtraction used to trap and kill it).
    @Test(arguments: [Int64.min, Int64.max])
    func aBeaconWithAnExtremeTimeIsIgnoredWithoutACrash(_ time: Int64) throws {
        let bed = try TunnelTestBed(nodes: ["a", "b"])
        let b = try #require(bed.sim.host(named: "b"))
        let forged = LANBeacon.announcement(
            name: Array("mallory".utf8), key: [UInt8](repeating: 7, count: 32), time: time,
            macKey: LANBeacon.macKey(presharedKey: try TunnelPresharedKey(secret: "cluster secret")))
        var sender: Channel?
        b.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 4000))) { _ in
            b.eventLoop.makeSucceededVoidFuture()
        }.whenSuccess { sender = $0 }
        bed.run(for: Self.s) { sender == nil }
        let socket = try #require(sender)
        socket.writeAndFlush(AddressedEnvelope(remoteAddress: bed.addresses["a"]!.socketAddress(port: 20006), data: ByteBuffer(bytes: forged)), promise: nil)
        bed.run(for: 11 * Self.s) { true }
        #expect(bed.tunnel("a").lanAddresses(ofNode: "mallory").isEmpty)
        #expect(bed.tunnel("a").lanAddresses(ofNode: "b") == [bed.addresses["b"]!], "a still hears its real neighbour")
    }

    @Test func aDirectDialIntoABlackHoleDoesNotDelayAWorkingRelay() throws {
        let bed = try TunnelTestBed()
        // b's Node object names an address nobody answers at: the direct dial hangs until its
        // 3 s timeout, while the relay answers at once.
        bed.directAddressOverride["b"] = IPv4Address(10, 0, 0, 200)
        let relay = StandInRelayDialer(host: bed.sim.host(named: "a")!, remote: bed.addresses["b"]!.socketAddress(port: 20006))
        bed.tunnel("a").addDialer(relay)
        // So does a punch that never gets through (it gives up after 10 s).
        bed.tunnel("a").addDialer(BlackHoleDialer(kind: .holePunched, host: bed.sim.host(named: "a")!, givesUpAfter: .seconds(10)))
        let start = bed.sim.now
        _ = try bed.openChannel(from: "a", to: bed.target("b"))
        // The relay's head start (25 ms) and a handshake on the LAN, not a head start (300 ms)
        // per better path: under 50 ms over the relay's round trip.
        let setUp = bed.sim.now - start
        #expect(setUp < 50 * Self.s / 1000, "relayed path up after \(setUp / 1_000_000) ms")
        #expect(bed.status(of: "a", peer: "b")?.path == .relayed)
        // Once the better paths give up, the status says why the path is relayed.
        bed.run(for: 15 * Self.s) { true }
        #expect(bed.status(of: "a", peer: "b")?.path == .relayed)
        let failure = try #require(bed.status(of: "a", peer: "b")?.lastFailure)
        #expect(failure.hasPrefix("using the relayed path; "), "\(failure)")
        #expect(failure.contains("direct:") && failure.contains("holePunched:"), "\(failure)")
        #expect(relay.dials == 1)
    }

    @Test func aPeerThatAnswersDirectlyOpensNoRelayCircuit() throws {
        let bed = try TunnelTestBed()
        let relay = StandInRelayDialer(host: bed.sim.host(named: "a")!, remote: bed.addresses["b"]!.socketAddress(port: 20006))
        bed.tunnel("a").addDialer(relay)
        _ = try bed.openChannel(from: "a", to: bed.target("b"))
        bed.run(for: Self.s) { true }
        #expect(bed.status(of: "a", peer: "b")?.path == .direct)
        #expect(relay.dials == 0, "the LAN peer answered within the relay's head start")
    }
}
