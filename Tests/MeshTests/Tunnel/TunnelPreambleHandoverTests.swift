import Mesh
import NIOCore
import Testing

@testable import NetSim

/// Reads a one-byte preamble the way a relay client reads the relay's spliced signal, but only
/// once more bytes are there: the peer's first handshake bytes arrive in the same read. Hands
/// the stream to the tunnel, passes the rest on at once, and steps out.
final class PreambleThenHandover: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let acceptor: PeerStreamAcceptor
    private var collected = ByteBuffer()
    init(acceptor: @escaping PeerStreamAcceptor) { self.acceptor = acceptor }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        collected.writeBuffer(&incoming)
        guard collected.readableBytes > 1 else { return }
        collected.moveReaderIndex(forwardBy: 1)
        acceptor(context.channel, .relayed)
        context.fireChannelRead(NIOAny(collected))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// Dials the peer's handover port and writes the preamble byte first, as a relay would.
final class PreambleDialer: PeerPathDialer, @unchecked Sendable {
    let kind = PeerPathKind.relayed
    let host: SimHost
    let remote: SocketAddress
    init(host: SimHost, remote: SocketAddress) {
        self.host = host
        self.remote = remote
    }
    func dial(node: String) -> EventLoopFuture<Channel> {
        host.connectStream(StreamConnectOptions(remote: remote)) { $0.eventLoop.makeSucceededVoidFuture() }.map { channel in
            channel.writeAndFlush(ByteBuffer(bytes: [0x01]), promise: nil)
            return channel
        }
    }
}

@Suite struct TunnelPreambleHandoverTests {
    static let s = TunnelTestBed.s

    /// A relayed stream whose first handshake message came in the same read as the relay's
    /// spliced signal still completes its handshake: the bytes are not dropped on the way to
    /// the tunnel's handlers.
    @Test func handshakeBytesThatCameWithThePreambleReachTheTunnel() throws {
        let bed = try TunnelTestBed()
        bed.directReachable = []
        let b = bed.sim.host(named: "b")!
        let acceptor = bed.tunnel("b").peerStreamAcceptor
        _ = b.listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: 30000))) { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(PreambleThenHandover(acceptor: acceptor)) }
        }
        bed.tunnel("a").addDialer(PreambleDialer(host: bed.sim.host(named: "a")!, remote: bed.addresses["b"]!.socketAddress(port: 30000)))
        let (stream, recorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        #expect(bed.status(of: "a", peer: "b")?.path == .relayed)
        stream.writeAndFlush(ByteBuffer(string: "through"), promise: nil)
        bed.run(for: 5 * Self.s) { recorder.byteCount < 7 }
        #expect(recorder.bytes == ByteBuffer(string: "through"))
    }
}
