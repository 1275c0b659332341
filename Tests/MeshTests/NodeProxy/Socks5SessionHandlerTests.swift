import Mesh
import NIOCore
import NIOEmbedded
import Testing

@testable import Mesh
@testable import NetSim

/// The SOCKS5 handshake byte for byte (RFC 1928, RFC 1929), and every refusal with its reply
/// code, on an `EmbeddedChannel`: nothing here reaches a node.
@Suite struct Socks5SessionHandlerTests {
    /// A proxy on a simulated host whose table knows node "edge-7" at 192.168.7.10.
    static func proxy(credentials: Socks5Credentials? = nil) throws -> (Socks5NodeProxy, Simulator) {
        let sim = try KubernetesAPITests.cloudAndEdge(loss: 0)
        let host = try #require(sim.host(named: "edge-1"))
        let table = ServiceTable(eventLoop: host.eventLoop)
        table.apply(.upsert(.node(Node(
            metadata: ObjectMeta(name: "edge-7"),
            status: Node.Status(addresses: [Node.Address(type: .internalIP, address: "192.168.7.10")])))))
        let proxy = Socks5NodeProxy(
            host: host, table: table, tunnel: nil,
            configuration: Socks5Configuration(listenAddress: host.address.socketAddress(port: 10800), credentials: credentials))
        return (proxy, sim)
    }

    static func channel(_ proxy: Socks5NodeProxy) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "10.0.0.9", port: 40000)).wait()
        try channel.pipeline.syncOperations.addHandler(Socks5SessionHandler(proxy: proxy))
        #expect(channel.isActive)
        return channel
    }

    static func readBytes(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readBytes(length: buffer.readableBytes) ?? [] }
        return bytes
    }

    /// Greets (no authentication), then sends CONNECT to `name`:`port`.
    static func connect(_ channel: EmbeddedChannel, name: String, port: UInt16) throws -> [UInt8] {
        try channel.writeInbound(ByteBuffer(bytes: [5, 1, 0]))
        #expect(try readBytes(channel) == [5, 0], "no authentication chosen")
        try channel.writeInbound(ByteBuffer(bytes: [5, 1, 0, 3, UInt8(name.utf8.count)] + Array(name.utf8) + [UInt8(port >> 8), UInt8(port & 0xFF)]))
        return try readBytes(channel)
    }

    @Test func aPortNotOnTheListIsNotAllowed() throws {
        let (proxy, _) = try Self.proxy()
        let channel = try Self.channel(proxy)
        #expect(try Self.connect(channel, name: "edge-7", port: 8080) == [5, 2, 0, 1, 0, 0, 0, 0, 0, 0])
        #expect(!channel.isActive, "closed once the refusal is written")
        #expect(proxy.statistics.refusals == ["not allowed": 1])
    }

    @Test func anUnknownNodeIsHostUnreachableAndAnAddressIsRefused() throws {
        let (proxy, _) = try Self.proxy()
        #expect(try Self.connect(try Self.channel(proxy), name: "edge-99", port: 22) == [5, 4, 0, 1, 0, 0, 0, 0, 0, 0])
        // An address spelled as a name is no node name.
        #expect(try Self.connect(try Self.channel(proxy), name: "192.168.7.10", port: 22) == [5, 2, 0, 1, 0, 0, 0, 0, 0, 0])
        // An IPv4 address type: not served.
        let channel = try Self.channel(proxy)
        try channel.writeInbound(ByteBuffer(bytes: [5, 1, 0]))
        _ = try Self.readBytes(channel)
        try channel.writeInbound(ByteBuffer(bytes: [5, 1, 0, 1, 192, 168, 7, 10, 0, 22]))
        #expect(try Self.readBytes(channel) == [5, 8, 0, 1, 0, 0, 0, 0, 0, 0])
        // BIND: not served either.
        let bind = try Self.channel(proxy)
        try bind.writeInbound(ByteBuffer(bytes: [5, 1, 0]))
        _ = try Self.readBytes(bind)
        try bind.writeInbound(ByteBuffer(bytes: [5, 2, 0, 3, 6] + Array("edge-7".utf8) + [0, 22]))
        #expect(try Self.readBytes(bind) == [5, 7, 0, 1, 0, 0, 0, 0, 0, 0])
        #expect(proxy.statistics.refusals == ["host unreachable": 1, "not allowed": 1, "address type not supported": 1, "command not supported": 1])
    }

    @Test func messagesSplitAcrossReadsAreReassembled() throws {
        let (proxy, _) = try Self.proxy()
        let channel = try Self.channel(proxy)
        for byte: UInt8 in [5, 2, 2, 0] { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        #expect(try Self.readBytes(channel) == [5, 0], "chose no authentication from the two offered")
        let request: [UInt8] = [5, 1, 0, 3, 7] + Array("edge-99".utf8) + [0, 22]
        for byte in request { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        #expect(try Self.readBytes(channel) == [5, 4, 0, 1, 0, 0, 0, 0, 0, 0])
    }

    @Test func credentialsAreRequiredWhenSet() throws {
        let (proxy, _) = try Self.proxy(credentials: Socks5Credentials(username: "ops", password: "s3cret"))
        // Offering only "no authentication": none acceptable, then closed.
        let anonymous = try Self.channel(proxy)
        try anonymous.writeInbound(ByteBuffer(bytes: [5, 1, 0]))
        #expect(try Self.readBytes(anonymous) == [5, 0xFF])
        #expect(!anonymous.isActive)

        let wrong = try Self.channel(proxy)
        try wrong.writeInbound(ByteBuffer(bytes: [5, 2, 0, 2]))
        #expect(try Self.readBytes(wrong) == [5, 2])
        try wrong.writeInbound(ByteBuffer(bytes: [1, 3] + Array("ops".utf8) + [6] + Array("s3cre7".utf8)))
        #expect(try Self.readBytes(wrong) == [1, 1])
        #expect(!wrong.isActive)

        let right = try Self.channel(proxy)
        try right.writeInbound(ByteBuffer(bytes: [5, 1, 2]))
        #expect(try Self.readBytes(right) == [5, 2])
        try right.writeInbound(ByteBuffer(bytes: [1, 3] + Array("ops".utf8) + [6] + Array("s3cret".utf8)))
        #expect(try Self.readBytes(right) == [1, 0])
        try right.writeInbound(ByteBuffer(bytes: [5, 1, 0, 3, 7] + Array("edge-99".utf8) + [0, 22]))
        #expect(try Self.readBytes(right) == [5, 4, 0, 1, 0, 0, 0, 0, 0, 0], "authenticated, then judged as any request")
        #expect(proxy.statistics.authenticationFailures == 2)
    }

    @Test func anotherProtocolOrAHandshakeThatNeverEndsIsClosed() throws {
        let (proxy, _) = try Self.proxy()
        let socks4 = try Self.channel(proxy)
        try socks4.writeInbound(ByteBuffer(bytes: [4, 1, 0, 22, 192, 168, 7, 10, 0]))
        #expect(try Self.readBytes(socks4).isEmpty)
        #expect(!socks4.isActive)

        let http = try Self.channel(proxy)
        try http.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        #expect(!http.isActive)

        let slow = try Self.channel(proxy)
        try slow.writeInbound(ByteBuffer(bytes: [5, 1]))
        slow.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(slow.isActive)
        slow.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!slow.isActive, "the greeting was not finished within 10 s")
    }
}
