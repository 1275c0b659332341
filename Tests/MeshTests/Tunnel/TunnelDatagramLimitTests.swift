@testable import Mesh
import NIOCore
import Testing

@testable import NetSim

/// A UDP flow through the tunnel whose near end stops reading: the far agent drops the
/// target's datagrams once the stream's window is full, as a network drops what it cannot
/// carry, instead of queueing them without bound.
@Suite struct TunnelDatagramLimitTests {
    static let s = TunnelTestBed.s

    /// Answers each datagram with `count` datagrams of 1,000 bytes.
    final class Flooder: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>
        let count: Int
        init(count: Int) { self.count = count }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let sender = unwrapInboundIn(data).remoteAddress
            for _ in 0..<count {
                context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: sender, data: ByteBuffer(repeating: 0x41, count: 1_000))), promise: nil)
            }
            context.flush()
        }
    }

    @Test func datagramsForAStreamThatIsNotReadAreDroppedNotQueued() throws {
        let bed = try TunnelTestBed()
        let b = try #require(bed.sim.host(named: "b"))
        _ = b.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 9))) { $0.pipeline.addHandler(Flooder(count: 2_000)) }
        bed.run(for: Self.s) { true }
        let (channel, _) = try bed.openChannel(from: "a", to: bed.target("b", port: 9, .udp))
        _ = channel.setOption(ChannelOptions.autoRead, value: false)
        channel.writeAndFlush(ByteBuffer(string: "go"), promise: nil)
        bed.run(for: 10 * Self.s) { true }
        let dropped = bed.tunnel("b").datagramsDroppedForFullStreams
        #expect(dropped > 1_000, "2 MB of datagrams for a 256 KiB window: most are dropped, \(dropped) were")
        channel.close(promise: nil)
        bed.run(for: Self.s) { true }
    }
}
