import Mesh
import NIOCore
import NetworkTopology
@testable import Scenario
import Testing

@testable import NetSim

/// The DNS server on a simulated node, asked by another node over real UDP and TCP.
@Suite struct DNSServerTests {
    static let ms = Nanoseconds.millisecond
    static let s = Nanoseconds.second

    static let lan = TopologySpec(
        networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/24")!)],
        nodes: [.init(name: "dns", network: "lan"), .init(name: "client", network: "lan")])

    /// A running server, the client host and where to send queries.
    struct Bench {
        let sim: Simulator
        let server: DNSServer
        let table: ServiceTable
        let client: SimHost
        let target: SocketAddress
    }

    static func bench(objects: [KubernetesObject], port: UInt16 = 53) throws -> Bench {
        let sim = try Simulator(seed: 1, topology: lan)
        let host = try #require(sim.host(named: "dns"))
        let table = ServiceTable(eventLoop: host.eventLoop)
        for object in objects { table.apply(.upsert(object)) }
        let server = DNSServer(
            host: host, resolver: ClusterDNSResolver(table: table), configuration: DNSServer.Configuration(port: port))
        let started = Box<Result<Void, Error>>()
        server.start().whenComplete { started.value = $0 }
        sim.run(until: sim.now + s) { started.value == nil }
        try #require(started.value).get()
        let address = try #require(sim.resolve("dns"))
        return Bench(sim: sim, server: server, table: table, client: try #require(sim.host(named: "client")),
                     target: address.socketAddress(port: port))
    }

    static let objects: [KubernetesObject] = [
        .service(Service(
            metadata: ObjectMeta(name: "web", namespace: "default"),
            spec: Service.Spec(clusterIP: "10.96.0.10", ports: [ServicePort(name: "http", port: 80)]))),
        .service(Service(metadata: ObjectMeta(name: "big", namespace: "default"), spec: Service.Spec(clusterIP: "None"))),
        .endpoints(Endpoints(
            metadata: ObjectMeta(name: "big", namespace: "default"),
            subsets: [Endpoints.Subset(
                addresses: (1...100).map { Endpoints.Address(ip: "10.1.0.\($0)") },
                ports: [Endpoints.Port(name: "http", port: 8080)])])),
    ]

    static func query(_ text: String, _ type: DNSRecordType, id: UInt16, edns: DNSEDNS? = nil) -> ByteBuffer {
        var buffer = ByteBuffer()
        DNSMessage(header: DNSHeader(id: id, isRecursionDesired: true),
                   questions: [DNSQuestion(name: try! DNSName(text), type: type)], edns: edns).encode(into: &buffer)
        return buffer
    }

    /// Sends `datagrams` from one client socket and returns every reply that arrives within 2 s.
    static func overUDP(_ bench: Bench, _ datagrams: [ByteBuffer]) throws -> [ByteBuffer] {
        let replies = Replies()
        let channel = Box<Channel>()
        bench.client.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 0))) {
            $0.pipeline.addHandler(DatagramReplyCollector(replies: replies))
        }.whenSuccess { channel.value = $0 }
        bench.sim.run(until: bench.sim.now + s) { channel.value == nil }
        let socket = try #require(channel.value)
        for datagram in datagrams {
            socket.writeAndFlush(AddressedEnvelope(remoteAddress: bench.target, data: datagram), promise: nil)
        }
        bench.sim.run(for: 2 * s)
        socket.close(promise: nil)
        return replies.messages
    }

    /// Sends `messages` on one TCP connection, each with its length prefix, split across writes
    /// at odd places; returns the replies, unframed.
    static func overTCP(_ bench: Bench, _ messages: [ByteBuffer]) throws -> [ByteBuffer] {
        let replies = Replies()
        let channel = Box<Channel>()
        bench.client.connectStream(StreamConnectOptions(remote: bench.target)) {
            $0.pipeline.addHandler(StreamReplyCollector(replies: replies))
        }.whenSuccess { channel.value = $0 }
        bench.sim.run(until: bench.sim.now + 5 * s) { channel.value == nil }
        let connection = try #require(channel.value)
        var stream = ByteBuffer()
        for message in messages {
            stream.writeInteger(UInt16(message.readableBytes))
            stream.writeImmutableBuffer(message)
        }
        while stream.readableBytes > 0 {
            connection.writeAndFlush(stream.readSlice(length: min(7, stream.readableBytes))!, promise: nil)
        }
        bench.sim.run(until: bench.sim.now + 5 * s) { replies.messages.count < messages.count }
        connection.close(promise: nil)
        bench.sim.run(for: s)
        return replies.messages
    }

    static func decode(_ buffers: [ByteBuffer]) throws -> [DNSMessage] {
        try buffers.map { try DNSMessage(decoding: $0) }
    }

    @Test func answersOverUDPAndTCP() throws {
        let bench = try Self.bench(objects: Self.objects)
        let udp = try Self.decode(Self.overUDP(bench, [
            Self.query("web.default.svc.cluster.local", .a, id: 1),
            Self.query("missing.default.svc.cluster.local", .a, id: 2),
            Self.query("example.com", .a, id: 3),
        ])).sorted { $0.header.id < $1.header.id }
        #expect(udp.map(\.header.id) == [1, 2, 3])
        #expect(udp.map(\.header.responseCode) == [.noError, .nameError, .refused])
        #expect(udp[0].answers.map(\.data) == [.a(IPv4Address(10, 96, 0, 10))])
        #expect(udp[1].authorities.map(\.type) == [.soa])

        let tcp = try Self.decode(Self.overTCP(bench, [
            Self.query("_http._tcp.web.default.svc.cluster.local", .srv, id: 4),
            Self.query("10.0.96.10.in-addr.arpa", .ptr, id: 5),
        ]))
        #expect(tcp.map(\.header.id) == [4, 5])
        #expect(tcp[0].answers.map(\.data) == [
            .srv(priority: 0, weight: 100, port: 80, target: try DNSName("web.default.svc.cluster.local"))])
        #expect(tcp[1].answers.map(\.data) == [.ptr(try DNSName("web.default.svc.cluster.local"))])

        let statistics = bench.server.statistics
        #expect(statistics.queries == 5)
        #expect(statistics.responses(with: .noError) == 3)
        #expect(statistics.responses(with: .nameError) == 1)
        #expect(statistics.responses(with: .refused) == 1)
    }

    @Test func aRepeatedQuestionGetsItsOwnIDAndFlagsAndATableChangeIsSeenAtOnce() throws {
        let bench = try Self.bench(objects: Self.objects)
        func ask(_ name: String, id: UInt16, recursionDesired: Bool = true, edns: DNSEDNS? = nil) -> ByteBuffer {
            var buffer = ByteBuffer()
            DNSMessage(header: DNSHeader(id: id, isRecursionDesired: recursionDesired),
                       questions: [DNSQuestion(name: try! DNSName(name), type: .a)], edns: edns).encode(into: &buffer)
            return buffer
        }
        let name = "Web.Default.svc.cluster.local"
        let first = try Self.overUDP(bench, [ask(name, id: 1)])
        let again = try Self.overUDP(bench, [ask(name, id: 2), ask(name, id: 3, recursionDesired: false),
                                             ask(name, id: 4, edns: DNSEDNS(udpPayloadSize: 4096, dnssecOK: true))])
        let replies = try Self.decode(first + again).sorted { $0.header.id < $1.header.id }
        #expect(replies.map(\.header.id) == [1, 2, 3, 4])
        #expect(replies.map(\.header.isRecursionDesired) == [true, true, false, true])
        #expect(replies.map { $0.edns?.dnssecOK } == [nil, nil, nil, true])
        #expect(replies.allSatisfy { $0.questions.first?.name.description == "Web.Default.svc.cluster.local." })
        #expect(replies.allSatisfy { $0.answers.map(\.data) == [.a(IPv4Address(10, 96, 0, 10))] })
        // The same question again is the same answer, byte for byte, but for the ID.
        let second = try #require(again.first)
        #expect(Array(second.readableBytesView.dropFirst(2)) == Array(try #require(first.first).readableBytesView.dropFirst(2)))

        bench.table.apply(.upsert(.service(Service(
            metadata: ObjectMeta(name: "web", namespace: "default"),
            spec: Service.Spec(clusterIP: "10.96.0.77", ports: [ServicePort(name: "http", port: 80)])))))
        let moved = try Self.decode(Self.overUDP(bench, [ask(name, id: 5)]))
        #expect(moved.first?.answers.map(\.data) == [.a(IPv4Address(10, 96, 0, 77))])
        bench.table.apply(.delete(.service(Service(metadata: ObjectMeta(name: "web", namespace: "default"), spec: Service.Spec()))))
        let gone = try Self.decode(Self.overUDP(bench, [ask(name, id: 6)]))
        #expect(gone.first?.header.responseCode == .nameError)
        #expect(bench.server.statistics.queries == 6)
        #expect(bench.server.statistics.responses(with: .noError) == 5)
    }

    @Test func aLargeHeadlessAnswerTruncatesOverUDPAndComesWholeOverTCP() throws {
        let bench = try Self.bench(objects: Self.objects)
        let udp = try Self.decode(Self.overUDP(bench, [
            Self.query("big.default.svc.cluster.local", .a, id: 1),
            Self.query("big.default.svc.cluster.local", .a, id: 2, edns: DNSEDNS(udpPayloadSize: 4096)),
        ])).sorted { $0.header.id < $1.header.id }
        let raw = try Self.overUDP(bench, [Self.query("big.default.svc.cluster.local", .a, id: 3)])
        #expect(raw.map(\.readableBytes).allSatisfy { $0 <= 512 })
        try #require(udp.count == 2)
        #expect(udp[0].header.isTruncated && udp[0].answers.count < 100)
        // EDNS: the client offered 4096, the server caps at 1232; the OPT record is echoed.
        #expect(udp[1].header.isTruncated && udp[1].answers.count > udp[0].answers.count)
        #expect(udp[1].edns?.udpPayloadSize == 1232)
        #expect(udp[0].edns == nil)

        let tcp = try Self.decode(Self.overTCP(bench, [Self.query("big.default.svc.cluster.local", .a, id: 4)]))
        try #require(tcp.count == 1)
        #expect(!tcp[0].header.isTruncated)
        #expect(tcp[0].answers.map(\.data) == (1...100).map { .a(IPv4Address(10, 1, 0, UInt8($0))) })
        #expect(bench.server.statistics.truncated == 3)
    }

    @Test func aFloodOfGarbageDoesNotStopTheServer() throws {
        let bench = try Self.bench(objects: Self.objects)
        // Seeded, so the flood is the same every run: random bytes, plus valid queries with
        // bytes flipped (they get past the header and exercise the decoder's deeper paths).
        var generator = FloodGenerator(seed: 42)
        let good = Self.query("web.default.svc.cluster.local", .a, id: 9)
        var garbage: [ByteBuffer] = []
        for index in 0..<600 {
            var bytes: [UInt8]
            if index % 2 == 0 {
                bytes = (0..<Int(generator.next() % 300)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            } else {
                bytes = Array(good.readableBytesView)
                for _ in 0..<3 {
                    bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
                }
            }
            garbage.append(ByteBuffer(bytes: bytes))
        }
        _ = try Self.overUDP(bench, garbage)
        let replies = try Self.decode(Self.overUDP(bench, [good]))
        #expect(replies.map(\.header.id) == [9])
        #expect(replies.first?.answers.map(\.data) == [.a(IPv4Address(10, 96, 0, 10))])
        let statistics = bench.server.statistics
        #expect(statistics.queries == 601)
        #expect(statistics.malformed > 0)
        // TCP still works after the flood, and garbage on a connection only ends that connection.
        #expect(try Self.decode(Self.overTCP(bench, [good])).map(\.header.id) == [9])
    }

    @Test func aTruncatedHeaderIsDroppedAndABadBodyGetsFORMERR() throws {
        let bench = try Self.bench(objects: Self.objects)
        let replies = try Self.overUDP(bench, [
            ByteBuffer(bytes: [0xAB, 0xCD, 0x01]),
            ByteBuffer(bytes: [0xAB, 0xCD, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3F]),
        ])
        let messages = try Self.decode(replies)
        #expect(messages.map(\.header.id) == [0xABCD])
        #expect(messages.map(\.header.responseCode) == [.formatError])
        #expect(bench.server.statistics.malformed == 2)
        #expect(bench.server.statistics.dropped == 1)
    }
}

extension DNSServerTests {
    static let withUpstream = TopologySpec(
        networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/24")!)],
        nodes: [.init(name: "dns", network: "lan"), .init(name: "client", network: "lan"),
                .init(name: "upstream", network: "lan")])

    /// Our server forwarding to an upstream that is itself a DNSServer, authoritative for
    /// `example.org` (so the upstream's answers are known exactly).
    static func forwardingBench(cacheTTL: UInt32? = nil) throws -> (Bench, DNSForwarder) {
        let sim = try Simulator(seed: 1, topology: withUpstream)
        let upstreamHost = try #require(sim.host(named: "upstream"))
        let upstreamTable = ServiceTable(eventLoop: upstreamHost.eventLoop)
        for object in objects { upstreamTable.apply(.upsert(object)) }
        let upstream = DNSServer(host: upstreamHost, resolver: ClusterDNSResolver(
            table: upstreamTable, configuration: ClusterDNSConfiguration(domain: try DNSName("example.org"))))
        let host = try #require(sim.host(named: "dns"))
        let forwarder = DNSForwarder(
            host: host, upstreams: [try #require(sim.resolve("upstream")).socketAddress(port: 53)],
            attemptTimeout: .seconds(1), cache: ForwardedAnswerCache(maximumTTL: cacheTTL))
        let table = ServiceTable(eventLoop: host.eventLoop)
        let server = DNSServer(host: host, resolver: ClusterDNSResolver(table: table), forwarder: forwarder)
        let started = Box<Result<Void, Error>>()
        upstream.start().and(server.start()).whenComplete { started.value = $0.map { _ in } }
        sim.run(until: sim.now + s) { started.value == nil }
        try #require(started.value).get()
        let bench = Bench(sim: sim, server: server, table: table, client: try #require(sim.host(named: "client")),
                          target: try #require(sim.resolve("dns")).socketAddress(port: 53))
        return (bench, forwarder)
    }

    @Test func namesOutsideTheClusterAreForwardedAndCached() throws {
        let (bench, forwarder) = try Self.forwardingBench()
        let name = "web.default.svc.example.org"
        let first = try Self.decode(Self.overUDP(bench, [Self.query(name, .a, id: 1)]))
        #expect(first.map(\.header.id) == [1])
        #expect(first.first?.header.isRecursionAvailable == true)
        #expect(first.first?.header.isAuthoritativeAnswer == false)
        #expect(first.first?.answers.map(\.data) == [.a(IPv4Address(10, 96, 0, 10))])
        #expect(forwarder.upstreamQueries == 1)

        // 10 s later (overUDP runs 2 s each), the cached answer comes back with less TTL left.
        bench.sim.run(for: 8 * Self.s)
        let second = try Self.decode(Self.overUDP(bench, [Self.query(name, .a, id: 2)]))
        #expect(second.first?.answers.first?.ttl == 20)
        #expect(forwarder.upstreamQueries == 1)

        // Negative answers are cached too, for the SOA's TTL.
        let missing = "nope.default.svc.example.org"
        for id: UInt16 in [3, 4] {
            let reply = try Self.decode(Self.overUDP(bench, [Self.query(missing, .a, id: id)]))
            #expect(reply.first?.header.responseCode == .nameError)
            #expect(reply.first?.authorities.map(\.type) == [.soa])
        }
        #expect(forwarder.upstreamQueries == 2)
    }

    /// RFC 7766: an upstream answer too large for UDP comes back truncated; the agent asks the
    /// same upstream again over TCP, so large external answers resolve at all.
    @Test func aTruncatedUpstreamAnswerIsFetchedAgainOverTCP() throws {
        let (bench, forwarder) = try Self.forwardingBench()
        let name = "big.default.svc.example.org"
        let whole = try Self.decode(Self.overTCP(bench, [Self.query(name, .a, id: 1)]))
        #expect(whole.first?.header.isTruncated == false)
        #expect(whole.first?.answers.count == 100)
        #expect(forwarder.upstreamQueries == 1)
        #expect(forwarder.upstreamStreamQueries == 1)
        // A UDP client gets what fits, marked truncated, from the cache; its retry over TCP the rest.
        let part = try Self.decode(Self.overUDP(bench, [Self.query(name, .a, id: 2)]))
        #expect(part.first?.header.isTruncated == true)
        #expect((part.first?.answers.count ?? 100) < 100)
        #expect(forwarder.upstreamQueries == 1)
    }

    @Test func withACacheTTLForwardedAnswersAreAskedForAgainOnceItHasPassed() throws {
        let (bench, forwarder) = try Self.forwardingBench(cacheTTL: 5)
        let name = "web.default.svc.example.org"
        // The upstream says 30 s; the agent keeps it, and tells its client, no more than 5 s.
        let first = try Self.decode(Self.overUDP(bench, [Self.query(name, .a, id: 1)]))
        #expect(first.first?.answers.map(\.ttl) == [5])
        let second = try Self.decode(Self.overUDP(bench, [Self.query(name, .a, id: 2)]))
        #expect(second.first?.answers.map(\.data) == [.a(IPv4Address(10, 96, 0, 10))])
        #expect(forwarder.upstreamQueries == 1)
        bench.sim.run(for: 4 * Self.s)
        let third = try Self.decode(Self.overUDP(bench, [Self.query(name, .a, id: 3)]))
        #expect(third.first?.answers.map(\.ttl) == [5])
        #expect(forwarder.upstreamQueries == 2)
    }

    @Test func whenTheUpstreamIsGoneExpiredAnswersAreServedStale() throws {
        let (bench, forwarder) = try Self.forwardingBench()
        let name = "web.default.svc.example.org"
        _ = try Self.overUDP(bench, [Self.query(name, .a, id: 1)])
        try bench.sim.crash("upstream")
        bench.sim.run(for: 60 * Self.s)
        // Expired and the upstream silent: after the 1 s attempt, the stale answer, TTL 30.
        let stale = try Self.decode(Self.overUDP(bench, [Self.query(name, .a, id: 2)]))
        #expect(stale.first?.header.responseCode == .noError)
        #expect(stale.first?.answers.map(\.data) == [.a(IPv4Address(10, 96, 0, 10))])
        #expect(stale.first?.answers.first?.ttl == 30)
        #expect(forwarder.staleAnswers == 1)
        #expect(forwarder.upstreamTimeouts == 1)
        // A name never answered has nothing stale: SERVFAIL.
        let unknown = try Self.decode(Self.overUDP(bench, [Self.query("db.default.svc.example.org", .a, id: 3)]))
        #expect(unknown.first?.header.responseCode == .serverFailure)
    }
}

/// A result set by a callback on the simulation thread and read there after `run`.
private final class Box<Value>: @unchecked Sendable {
    var value: Value?
}

/// Replies as they arrive; touched only on the simulation thread.
private final class Replies: @unchecked Sendable {
    var messages: [ByteBuffer] = []
}

private final class DatagramReplyCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let replies: Replies

    init(replies: Replies) { self.replies = replies }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        replies.messages.append(unwrapInboundIn(data).data)
    }
}

/// Splits the TCP byte stream back into length-prefixed messages.
private final class StreamReplyCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let replies: Replies
    private var pending = ByteBuffer()

    init(replies: Replies) { self.replies = replies }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        pending.writeBuffer(&incoming)
        while let length = pending.getInteger(at: pending.readerIndex, as: UInt16.self),
              pending.readableBytes >= 2 + Int(length) {
            pending.moveReaderIndex(forwardBy: 2)
            replies.messages.append(pending.readSlice(length: Int(length))!)
        }
    }
}

/// A tiny seeded generator so the garbage is reproducible.
private struct FloodGenerator {
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
