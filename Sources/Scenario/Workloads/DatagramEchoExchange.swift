import Mesh
import NIOCore

/// Sends one datagram from a fresh socket and waits for the same datagram to come back.
enum DatagramEchoExchange {
    static func echo(
        on host: any Host, address: IPv4Address, port: UInt16, payload: ByteBuffer, note: RequestSocketNote? = nil
    ) -> EventLoopFuture<Void> {
        let echoed = host.eventLoop.makePromise(of: Void.self)
        let target = address.socketAddress(port: port)
        let bound = host.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 0))) { channel in
            channel.pipeline.addHandler(DatagramEchoCollector(expected: payload, promise: echoed))
        }
        bound.whenFailure { echoed.fail($0) }
        bound.whenSuccess { channel in
            note?.note(channel)
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: target, data: payload), promise: nil)
            echoed.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        return echoed.futureResult
    }
}

/// Succeeds on the first datagram equal to the one sent; a datagram of another size means the
/// path split or merged datagrams.
final class DatagramEchoCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let expected: ByteBuffer
    private let promise: EventLoopPromise<Void>

    init(expected: ByteBuffer, promise: EventLoopPromise<Void>) {
        self.expected = expected
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        if envelope.data == expected {
            promise.succeed()
        } else {
            promise.fail(ExchangeError("datagram of \(envelope.data.readableBytes) bytes, expected \(expected.readableBytes)"))
        }
    }
}
