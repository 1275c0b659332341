import Foundation
import Glibc
import LinuxBackend
import Logging
import Mesh
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// The packet interface on Linux: a TUN device in a namespace of the test's own, with the
/// kernel routing a real socket's datagram into it and taking a written packet back out.
@Suite struct TUNPacketInterfaceTests {
    /// What the test saw, carried out of the namespace's thread.
    private struct Observed: Sendable {
        var read: [UInt8] = []
        var answer: [UInt8] = []
        var routes = ""
        var linksAfterClose = ""
        var statistics = PacketInterfaceStatistics()
    }

    @Test(.enabled(if: NamespaceSupport.available, NamespaceSupport.comment))
    func theKernelRoutesAPrefixIntoTheDeviceAndTakesAWrittenPacketBack() throws {
        try TestNamespace.with { namespace in
            try namespace.exec(NamespaceSupport.ip, "link", "set", "lo", "up")
            try namespace.exec(NamespaceSupport.ip, "address", "add", "10.98.0.1/32", "dev", "lo")
            let observed = try namespace.run { () throws -> Observed in
                // Threads made here are in the namespace too: the loop's netlink requests go there.
                let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
                defer { try? group.syncShutdownGracefully() }
                let loop = group.next()
                let host = LinuxHost(
                    name: "tun-test", eventLoop: loop, storeDirectory: NSTemporaryDirectory() + "tun-test",
                    interception: NoInterception(eventLoop: loop), logger: Logger(label: "tun-test"))
                let packets = ReadPackets()
                let interface = try host.openPacketInterface(PacketInterfaceOptions(name: "edgemesh-pod0", mtu: 1400)) {
                    $0.pipeline.addHandler(packets)
                }.wait()
                try interface.route([IPv4Prefix("10.99.0.0/24")!]).wait()
                var observed = Observed()
                observed.routes = try namespace.exec(NamespaceSupport.ip, "route", "show")

                let answers = ReadDatagrams()
                let socket = try DatagramBootstrap(group: loop)
                    .channelInitializer { $0.pipeline.addHandler(answers) }
                    .bind(host: "10.98.0.1", port: 5353).wait()
                try socket.writeAndFlush(AddressedEnvelope(
                    remoteAddress: try SocketAddress(ipAddress: "10.99.0.5", port: 53), data: ByteBuffer(bytes: [0xAB, 0xCD]))).wait()
                observed.read = try packets.first(within: .seconds(5))

                // The answer, from the far pod's address, written to the device.
                try interface.channel.writeAndFlush(UDPPacket.make(
                    from: IPv4Address(10, 99, 0, 5), 53, to: IPv4Address(10, 98, 0, 1), 5353, payload: [0x01, 0x02])).wait()
                observed.answer = try answers.first(within: .seconds(5))
                observed.statistics = try loop.submit { interface.statistics }.wait()
                try socket.close().wait()
                try interface.channel.close().wait()
                observed.linksAfterClose = try namespace.exec(NamespaceSupport.ip, "-o", "link", "show")
                return observed
            }
            #expect(observed.routes.contains("10.99.0.0/24 dev edgemesh-pod0"), "\(observed.routes)")
            let header = try #require(IPv4PacketHeader(validating: ByteBuffer(bytes: observed.read)))
            #expect(header.source == IPv4Address(10, 98, 0, 1))
            #expect(header.destination == IPv4Address(10, 99, 0, 5))
            #expect(header.transport == IPv4PacketHeader.TransportNumber.udp)
            #expect(Array(observed.read.suffix(2)) == [0xAB, 0xCD])
            #expect(observed.answer == [0x01, 0x02])
            // The kernel took the offloads; the datagram's partial UDP checksum was completed, nothing dropped.
            #expect(observed.statistics.segmentationOffload)
            #expect(observed.statistics.droppedReads == 0 && observed.statistics.droppedWrites == 0)
            #expect(!observed.linksAfterClose.contains("edgemesh-pod0"), "the device goes with its descriptor")
        }
    }
}

/// An IPv4/UDP packet with a correct header checksum (no UDP checksum, as IPv4 allows).
enum UDPPacket {
    static func make(from source: IPv4Address, _ sourcePort: UInt16, to destination: IPv4Address, _ destinationPort: UInt16,
                     payload: [UInt8]) -> ByteBuffer {
        var packet = ByteBuffer()
        packet.writeInteger(UInt8(0x45))
        packet.writeInteger(UInt8(0))
        packet.writeInteger(UInt16(28 + payload.count))
        packet.writeInteger(UInt32(0))
        packet.writeInteger(UInt8(64))
        packet.writeInteger(IPv4PacketHeader.TransportNumber.udp)
        packet.writeInteger(UInt16(0))
        packet.writeInteger(source.value)
        packet.writeInteger(destination.value)
        packet.setInteger(IPv4PacketHeader.checksum(of: packet, from: 0, count: 20), at: 10)
        packet.writeInteger(sourcePort)
        packet.writeInteger(destinationPort)
        packet.writeInteger(UInt16(8 + payload.count))
        packet.writeInteger(UInt16(0))
        packet.writeBytes(payload)
        return packet
    }
}

/// The first message a channel reads, waited for from another thread.
class FirstRead<Message>: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Message
    private let received = NIOLockedValueBox<[UInt8]?>(nil)
    private let arrived = DispatchSemaphore(value: 0)

    /// The bytes of a message to keep, or nil to pass over it.
    func bytes(of message: Message) -> [UInt8]? { nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let bytes = self.bytes(of: unwrapInboundIn(data)) else { return }
        let first = received.withLockedValue { value -> Bool in
            guard value == nil else { return false }
            value = bytes
            return true
        }
        if first { arrived.signal() }
    }

    func first(within timeout: TimeAmount) throws -> [UInt8] {
        guard arrived.wait(timeout: .now() + .nanoseconds(Int(timeout.nanoseconds))) == .success,
            let bytes = received.withLockedValue({ $0 })
        else { throw TestFailure(description: "nothing was read within \(timeout)") }
        return bytes
    }
}

/// IPv4 packets only: the kernel may send a new device its own IPv6 chatter first.
final class ReadPackets: FirstRead<ByteBuffer>, @unchecked Sendable {
    override func bytes(of message: ByteBuffer) -> [UInt8]? {
        message.getInteger(at: message.readerIndex, as: UInt8.self).map { $0 >> 4 } == 4 ? Array(message.readableBytesView) : nil
    }
}

final class ReadDatagrams: FirstRead<AddressedEnvelope<ByteBuffer>>, @unchecked Sendable {
    override func bytes(of message: AddressedEnvelope<ByteBuffer>) -> [UInt8]? { Array(message.data.readableBytesView) }
}
