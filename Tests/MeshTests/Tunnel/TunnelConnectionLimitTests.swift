import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// What one address or one node's credentials can make an agent hold in tunnel connections:
/// handshakes in progress are capped per source address and in all, established connections
/// per peer node; the agent keeps serving everyone else.
@Suite struct TunnelConnectionLimitTests {
    static let s = TunnelTestBed.s

    /// Opens `count` TCP connections from `node` to b's tunnel port that never say anything.
    static func silentConnections(_ bed: TunnelTestBed, from node: String, count: Int) -> [Channel] {
        let host = bed.sim.host(named: node)!
        var channels: [Channel] = []
        for _ in 0..<count {
            host.connectStream(StreamConnectOptions(remote: bed.addresses["b"]!.socketAddress(port: 20006))) { _ in
                host.eventLoop.makeSucceededVoidFuture()
            }.whenSuccess { channels.append($0) }
        }
        bed.sim.run(for: Self.s / 2)
        return channels
    }

    @Test func oneAddressHoldsAtMostItsShareOfPendingHandshakes() throws {
        let bed = try TunnelTestBed(nodes: ["a", "b", "c"]) { $0.maximumPendingHandshakesPerAddress = 8 }
        let flood = Self.silentConnections(bed, from: "c", count: 40)
        #expect(flood.count == 40, "the kernel accepts them all")
        #expect(bed.tunnel("b").pendingHandshakes == 8)
        #expect(bed.tunnel("b").handshakesRefusedAtLimit == 32)
        // `edgemesh status` says so.
        let report = bed.tunnel("b").statusReport
        #expect(report.limits?.handshakesRefused == 32)
        #expect(report.text.contains("limits: 32 connections refused with too many handshakes under way (8 now);"))
        // The flood does not keep a out.
        let (channel, recorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        channel.writeAndFlush(ByteBuffer(string: "ok"), promise: nil)
        bed.run(for: 5 * Self.s) { recorder.byteCount < 2 }
        #expect(recorder.bytes == ByteBuffer(string: "ok"))
        // The held ones go at the handshake timeout, and their slots with them.
        bed.sim.run(for: 10 * Self.s)
        #expect(bed.tunnel("b").pendingHandshakes == 0)
    }

    @Test func manyAddressesTogetherHoldAtMostTheTotal() throws {
        let bed = try TunnelTestBed(nodes: ["a", "b", "c", "d", "e"]) {
            $0.maximumPendingHandshakes = 12
            $0.maximumPendingHandshakesPerAddress = 8
        }
        _ = Self.silentConnections(bed, from: "c", count: 8)
        _ = Self.silentConnections(bed, from: "d", count: 8)
        #expect(bed.tunnel("b").pendingHandshakes == 12)
        #expect(bed.tunnel("b").handshakesRefusedAtLimit == 4)
    }

    @Test func oneNodesCredentialsKeepAtMostTheConnectionsPerPeer() throws {
        let bed = try TunnelTestBed(nodes: ["a", "b"]) { $0.maximumConnectionsPerPeer = 3 }
        // More tunnels on a (each loads a's key from a's store) each open their own connection to b.
        let host = bed.sim.host(named: "a")!
        let b = bed.addresses["b"]!
        var clones: [MeshTunnel] = []
        for index in 0..<10 {
            var configuration = TunnelConfiguration(presharedKey: try TunnelPresharedKey(secret: "cluster secret"))
            configuration.port = 30000 + UInt16(index)
            configuration.lanDiscovery = false
            configuration.targetPolicy = TunnelTargetPolicy { target, node in target.node == node ? nil : "not this node" }
            let clone = MeshTunnel(
                host: host, configuration: configuration, keys: bed.keys,
                dialers: [DirectPathDialer(host: host, port: 20006) { $0 == "b" ? [b] : [] }])
            clones.append(clone)
            var opened: Result<Channel, Error>?
            host.eventLoop.execute {
                clone.start().flatMap { clone.openStream(to: bed.target("b"), on: host.eventLoop) }.whenComplete { opened = $0 }
            }
            bed.run(for: 5 * Self.s) { opened == nil }
            #expect((try? opened?.get()) != nil, "clone \(index) opens a stream")
        }
        let status = try #require(bed.status(of: "b", peer: "a"))
        #expect(status.openConnections == 3)
        #expect(bed.tunnel("b").connectionsClosedAtPeerLimit == 7)
        // b still reaches a.
        let (channel, recorder) = try bed.openChannel(from: "b", to: bed.target("a"))
        channel.writeAndFlush(ByteBuffer(string: "ok"), promise: nil)
        bed.run(for: 5 * Self.s) { recorder.byteCount < 2 }
        #expect(recorder.bytes == ByteBuffer(string: "ok"))
    }
}

/// What streams can make an agent buffer: every stream's receive window comes out of one budget
/// per node, so a peer opening streams to a target that never reads cannot grow memory without
/// bound.
@Suite struct TunnelReceiveBudgetTests {
    static let s = TunnelTestBed.s
    static let kib = 1024

    /// Found by the soak benchmark: a UDP service queried from a new socket each time keeps
    /// hundreds of idle sessions open, each holding its stream's window; with full TCP-sized
    /// windows they spent a 64 MiB budget and new streams were refused. UDP streams take 64 KiB
    /// and the default budget leaves room for what a busy node really holds.
    @Test func hundredsOfIdleUDPSessionsLeaveRoomForNewStreams() throws {
        let bed = try TunnelTestBed()
        var opened = 0
        for _ in 0..<600 {
            var outcome: Result<Channel, Error>?
            let tunnel = bed.tunnel("a")
            tunnel.openStream(to: bed.target("b", .udp), on: tunnel.host.eventLoop).whenComplete { outcome = $0 }
            bed.run(for: Self.s) { outcome == nil }
            if case .success = outcome { opened += 1 }
        }
        #expect(opened == 600)
        #expect(bed.tunnel("b").receiveBudgetInUse == 600 * 64 * Self.kib)
        let (channel, recorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        channel.writeAndFlush(ByteBuffer(string: "still room"), promise: nil)
        bed.run(for: 5 * Self.s) { recorder.byteCount < 10 }
        #expect(recorder.bytes == ByteBuffer(string: "still room"))
        #expect(bed.tunnel("a").streamsRefusedOverBudget + bed.tunnel("b").streamsRefusedOverBudget == 0)
    }

    @Test func streamsTakeTheirWindowsFromTheNodesBudgetAndBeyondItAreRefused() throws {
        let bed = try TunnelTestBed {
            $0.streamWindow = UInt32(256 * Self.kib)
            $0.receiveBudget = 4 * 256 * Self.kib + 100 * Self.kib
        }
        var open: [(channel: Channel, recorder: StreamRecorder)] = []
        for _ in 0..<5 { open.append(try bed.openChannel(from: "a", to: bed.target("b"))) }
        // Four full windows and one of the 100 KiB left: the budget is spent.
        #expect(bed.tunnel("b").receiveBudgetInUse == 4 * 256 * Self.kib + 100 * Self.kib)
        let (refused, _) = bed.open(from: "a", to: bed.target("b"))
        guard case .failure(let error) = refused else {
            Issue.record("a sixth stream opened beyond the budget")
            return
        }
        #expect("\(error)".contains("receive budget"), "\(error)")
        #expect(bed.tunnel("a").streamsRefusedOverBudget + bed.tunnel("b").streamsRefusedOverBudget == 1)
        #expect(bed.tunnel("b").statusReport.limits?.receiveBudgetInUse == 4 * 256 * Self.kib + 100 * Self.kib)
        // The smaller window still carries a stream's bytes, only in smaller steps.
        let (channel, recorder) = open[4]
        let payload = ByteBuffer.pattern(600 * Self.kib)
        channel.writeAndFlush(payload, promise: nil)
        bed.run(for: 20 * Self.s) { recorder.byteCount < payload.readableBytes }
        #expect(recorder.bytes == payload)
        // A stream that closes gives its window back.
        open[0].channel.close(promise: nil)
        bed.run(for: Self.s) { true }
        let (again, _) = bed.open(from: "a", to: bed.target("b"))
        #expect((try? again?.get()) != nil)
    }
}
