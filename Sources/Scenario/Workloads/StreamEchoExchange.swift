import Mesh
import NIOCore

/// Sends a payload over a new TCP connection and waits until the same bytes come back.
enum StreamEchoExchange {
    static func echo(
        on host: any Host, address: IPv4Address, port: UInt16, payload: ByteBuffer, note: RequestSocketNote? = nil
    ) -> EventLoopFuture<Void> {
        let echoed = host.eventLoop.makePromise(of: Void.self)
        let connected = host.connectStream(
            StreamConnectOptions(remote: address.socketAddress(port: port), allowRemoteHalfClosure: true)
        ) { channel in
            channel.pipeline.addHandler(EchoCollector(expected: payload, promise: echoed))
        }
        connected.whenFailure { echoed.fail($0) }
        connected.whenSuccess { channel in
            note?.note(channel)
            channel.writeAndFlush(payload, promise: nil)
            echoed.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        return echoed.futureResult
    }
}

/// Compares what arrives with what was sent.
final class EchoCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private let expected: ByteBuffer
    private let promise: EventLoopPromise<Void>
    private var received = ByteBuffer()

    init(expected: ByteBuffer, promise: EventLoopPromise<Void>) {
        self.expected = expected
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        received.writeBuffer(&chunk)
        guard received.readableBytes >= expected.readableBytes else { return }
        if received == expected {
            promise.succeed()
        } else {
            promise.fail(ExchangeError("echo differs from what was sent"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ExchangeError("connection closed after \(received.readableBytes) of \(expected.readableBytes) bytes"))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
