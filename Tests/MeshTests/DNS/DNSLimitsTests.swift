import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// The agent's DNS under hostile or careless clients and a hostile network: a spoofed upstream
/// reply is not taken, queries in flight to the upstreams are merged and capped, and a TCP
/// client that says nothing is closed.
@Suite struct DNSLimitsTests {
    typealias Tests = DNSServerTests
    static let s = Nanoseconds.second

    /// Our server forwarding to "upstream", where `answer` handles each query datagram.
    static func forwarding(
        maximumQueriesInFlight: Int = 256, upstream answer: @escaping @Sendable (SimHost, AddressedEnvelope<ByteBuffer>) -> Void
    ) throws -> (Tests.Bench, DNSForwarder) {
        let sim = try Simulator(seed: 1, topology: Tests.withUpstream)
        let upstreamHost = try #require(sim.host(named: "upstream"))
        _ = upstreamHost.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 53))) {
            $0.pipeline.addHandler(UpstreamStandIn(host: upstreamHost, answer: answer))
        }
        let host = try #require(sim.host(named: "dns"))
        let forwarder = DNSForwarder(
            host: host, upstreams: [try #require(sim.resolve("upstream")).socketAddress(port: 53)],
            attemptTimeout: .seconds(1), maximumQueriesInFlight: maximumQueriesInFlight)
        let table = ServiceTable(eventLoop: host.eventLoop)
        let server = DNSServer(host: host, resolver: ClusterDNSResolver(table: table), forwarder: forwarder)
        var started = false
        server.start().whenComplete { _ in started = true }
        sim.run(until: sim.now + Self.s) { !started }
        let bench = Tests.Bench(sim: sim, server: server, table: table,
                                client: try #require(sim.host(named: "client")),
                                target: try #require(sim.resolve("dns")).socketAddress(port: 53))
        return (bench, forwarder)
    }

    /// The reply to `query` with one A record `address`.
    static func reply(to query: ByteBuffer, address: IPv4Address) -> ByteBuffer {
        let message = try! DNSMessage(decoding: query)
        var response = message.makeResponse(responseCode: .noError, isAuthoritative: true)
        response.answers = [DNSResourceRecord(name: message.questions[0].name, ttl: 60, data: .a(address))]
        var bytes = ByteBuffer()
        response.encode(into: &bytes)
        return bytes
    }

    /// RFC 5452 §9.1: a reply counts only from the address and port the query went to. An
    /// off-path attacker who guesses the ID and port cannot also answer from the upstream's
    /// own port.
    @Test func aReplyFromAnotherPortOfTheUpstreamIsNotTaken() throws {
        let (bench, forwarder) = try Self.forwarding { host, query in
            // Correct ID and question, sent from port 5353 instead of 53.
            let forged = Self.reply(to: query.data, address: IPv4Address(6, 6, 6, 6))
            _ = host.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 5353), reuseAddress: true)) { _ in
                host.eventLoop.makeSucceededVoidFuture()
            }.map { $0.writeAndFlush(AddressedEnvelope(remoteAddress: query.remoteAddress, data: forged), promise: nil) }
        }
        let answers = try Tests.decode(Tests.overUDP(bench, [Tests.query("www.example.org", .a, id: 7)]))
        #expect(answers.first?.answers.isEmpty == true, "the forged 6.6.6.6 must not be served: \(answers)")
        #expect(answers.first?.header.responseCode == .serverFailure)
        #expect(forwarder.upstreamTimeouts == 1)
    }

    @Test func identicalQuestionsInFlightShareOneUpstreamQueryAndTheRestAreCapped() throws {
        let (bench, forwarder) = try Self.forwarding(maximumQueriesInFlight: 8) { _, _ in }  // a silent upstream
        let same = (0..<20).map { Tests.query("www.example.org", .a, id: UInt16($0)) }
        let distinct = (0..<20).map { Tests.query("host-\($0).example.org", .a, id: UInt16(100 + $0)) }
        let replies = try Tests.decode(Tests.overUDP(bench, same + distinct))
        #expect(forwarder.upstreamQueries == 8, "one for the 20 identical questions, 7 more before the cap")
        #expect(forwarder.queriesRefusedInFlight == 13)
        #expect(replies.count == 40, "every query is answered")
        #expect(replies.allSatisfy { $0.header.responseCode == .serverFailure })
    }

    /// A client that pipelines thousands of queries and never reads: the server answers what
    /// its socket buffers hold, then stops taking queries until the client reads, instead of
    /// queueing every answer in memory.
    @Test func aTCPClientThatNeverReadsIsNotAnsweredWithoutBound() throws {
        let bench = try Tests.bench(objects: Tests.objects)
        var connected: Channel?
        bench.client.connectStream(StreamConnectOptions(remote: bench.target)) { channel in
            channel.setOption(ChannelOptions.autoRead, value: false)
        }.whenSuccess { connected = $0 }
        bench.sim.run(until: bench.sim.now + Self.s) { connected == nil }
        let channel = try #require(connected)
        let count = 20_000
        var stream = ByteBuffer()
        for id in 0..<count {
            let query = Tests.query("web.default.svc.cluster.local", .a, id: UInt16(id))
            stream.writeInteger(UInt16(query.readableBytes))
            stream.writeImmutableBuffer(query)
        }
        channel.writeAndFlush(stream, promise: nil)
        bench.sim.run(for: 5 * Self.s)
        let taken = bench.server.statistics.queries
        #expect(taken > 100 && taken < UInt64(count) / 2, "\(taken) of \(count) queries taken while the client reads nothing")
        // Once the client reads, every query is answered.
        let replies = StreamCounter()
        try channel.pipeline.syncOperations.addHandler(replies)
        _ = channel.setOption(ChannelOptions.autoRead, value: true)
        channel.read()
        bench.sim.run(until: bench.sim.now + 30 * Self.s) { bench.server.statistics.queries < UInt64(count) }
        #expect(bench.server.statistics.queries == UInt64(count))
        channel.close(promise: nil)
        bench.sim.run(for: Self.s)
    }

    @Test func aTCPClientThatSaysNothingIsClosed() throws {
        let bench = try Tests.bench(objects: Tests.objects)
        let recorder = StreamClosedRecorder()
        var connected: Channel?
        bench.client.connectStream(StreamConnectOptions(remote: bench.target)) { $0.pipeline.addHandler(recorder) }
            .whenSuccess { connected = $0 }
        bench.sim.run(until: bench.sim.now + Self.s) { connected == nil }
        #expect(connected != nil)
        bench.sim.run(until: bench.sim.now + 30 * Self.s) { !recorder.closed }
        #expect(recorder.closed, "closed after the TCP idle timeout (10 s)")
        #expect(bench.server.statistics.tcpIdleCloses == 1)
    }
}

/// Hands each query datagram to `answer`; touched only on the simulation thread.
private final class UpstreamStandIn: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let host: SimHost
    let answer: @Sendable (SimHost, AddressedEnvelope<ByteBuffer>) -> Void

    init(host: SimHost, answer: @escaping @Sendable (SimHost, AddressedEnvelope<ByteBuffer>) -> Void) {
        self.host = host
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        answer(host, unwrapInboundIn(data))
    }
}

private final class StreamClosedRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var closed = false
    func channelInactive(context: ChannelHandlerContext) { closed = true }
}

private final class StreamCounter: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var bytes = 0
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { bytes += unwrapInboundIn(data).readableBytes }
}
