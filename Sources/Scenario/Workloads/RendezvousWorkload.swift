import Mesh
import NIOCore

/// A public rendezvous for hole punching, in the spirit of STUN: each peer registers with its
/// own name and the name of the peer it wants; the rendezvous answers each with the other's
/// endpoint as the rendezvous observed it (that is, after every NAT on the way).
///
/// Text protocol, over UDP datagrams or TCP lines: `REGISTER <self> <peer>` in,
/// `PEER <address>:<port>` out.
public enum RendezvousWorkload {
    @discardableResult
    public static func start(on host: any Host, port: UInt16) -> EventLoopFuture<Void> {
        let registry = RendezvousRegistry()
        let address = IPv4Address.any.socketAddress(port: port)
        let datagrams = host.bindDatagram(DatagramBindOptions(address: address)) { channel in
            channel.pipeline.addHandler(RendezvousDatagramHandler(registry: registry))
        }
        let streams = host.listenStream(StreamListenOptions(address: address)) { channel in
            channel.pipeline.addHandler(LineFramer()).flatMap {
                channel.pipeline.addHandler(RendezvousStreamHandler(registry: registry))
            }
        }
        return datagrams.and(streams).map { _ in () }
    }
}

/// Who registered from where, per transport; answers flow when both sides of a pair are in.
final class RendezvousRegistry: @unchecked Sendable {
    private var datagramPeers: [String: SocketAddress] = [:]
    private var streamPeers: [String: (address: SocketAddress, channel: Channel)] = [:]

    /// Records a UDP registration; returns the peer's endpoint if it registered already.
    func registerDatagram(name: String, from address: SocketAddress, wants peer: String) -> SocketAddress? {
        datagramPeers[name] = address
        return datagramPeers[peer]
    }

    func registerStream(name: String, from address: SocketAddress, channel: Channel, wants peer: String) {
        streamPeers[name] = (address, channel)
        guard let other = streamPeers[peer] else { return }
        channel.writeAndFlush(Self.peerLine(other.address), promise: nil)
        other.channel.writeAndFlush(Self.peerLine(address), promise: nil)
    }

    static func peerLine(_ address: SocketAddress) -> ByteBuffer {
        ByteBuffer(string: "PEER \(address.ipAddress ?? "?"):\(address.port ?? 0)\n")
    }

    /// Parses `REGISTER <self> <peer>`.
    static func parseRegister(_ text: String) -> (name: String, peer: String)? {
        let words = text.split(separator: " ")
        guard words.count == 3, words[0] == "REGISTER" else { return nil }
        return (String(words[1]), String(words[2]))
    }
}

final class RendezvousDatagramHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let registry: RendezvousRegistry

    init(registry: RendezvousRegistry) {
        self.registry = registry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let (name, peer) = RendezvousRegistry.parseRegister(String(buffer: envelope.data)),
            let peerAddress = registry.registerDatagram(name: name, from: envelope.remoteAddress, wants: peer)
        else { return }
        let reply = AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: RendezvousRegistry.peerLine(peerAddress))
        context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
    }
}

final class RendezvousStreamHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = String

    private let registry: RendezvousRegistry

    init(registry: RendezvousRegistry) {
        self.registry = registry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let (name, peer) = RendezvousRegistry.parseRegister(unwrapInboundIn(data)),
            let remote = context.channel.remoteAddress
        else { return }
        registry.registerStream(name: name, from: remote, channel: context.channel, wants: peer)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

/// Splits a byte stream into `\n`-terminated lines (without the newline).
final class LineFramer: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = String

    private var pending = ""

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending += String(buffer: unwrapInboundIn(data))
        while let newline = pending.firstIndex(of: "\n") {
            let line = String(pending[..<newline])
            pending.removeSubrange(...newline)
            context.fireChannelRead(wrapInboundOut(line))
        }
    }
}
