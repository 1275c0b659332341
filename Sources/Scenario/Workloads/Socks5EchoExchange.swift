import Mesh
import NIOCore

/// An operator's SOCKS5 client: connects to a node proxy, asks it (no authentication) to
/// CONNECT to `target` by name, then sends a payload and waits for the same bytes back (an
/// echo stands in for the node's SSH).
enum Socks5EchoExchange {
    static func echo(
        on host: any Host, proxy: SocketAddress, target: HostPort, payload: ByteBuffer, note: RequestSocketNote? = nil
    ) -> EventLoopFuture<Void> {
        let echoed = host.eventLoop.makePromise(of: Void.self)
        let connected = host.connectStream(StreamConnectOptions(remote: proxy, allowRemoteHalfClosure: true)) { channel in
            channel.pipeline.addHandler(Socks5ClientHandshake(target: target, payload: payload, promise: echoed))
        }
        connected.whenFailure { echoed.fail($0) }
        connected.whenSuccess { channel in
            note?.note(channel)
            echoed.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        return echoed.futureResult
    }
}

/// Greets, sends the CONNECT request, checks each answer, then hands the connection to an
/// `EchoCollector` and sends the payload.
final class Socks5ClientHandshake: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let target: HostPort
    private let payload: ByteBuffer
    private let promise: EventLoopPromise<Void>
    private var received = ByteBuffer()
    private var greeted = false

    init(target: HostPort, payload: ByteBuffer, promise: EventLoopPromise<Void>) {
        self.target = target
        self.payload = payload
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: [5, 1, 0])), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        if !greeted {
            guard let answer = received.readBytes(length: 2) else { return }
            guard answer == [5, 0] else { return fail(context, "the proxy answered the greeting with \(answer)") }
            greeted = true
            let name = Array(target.host.utf8.prefix(255))
            let request = [5, 1, 0, 3, UInt8(name.count)] + name + [UInt8(target.port >> 8), UInt8(target.port & 0xFF)]
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: request)), promise: nil)
        }
        guard let reply = received.readBytes(length: 10) else { return }
        guard reply[0] == 5, reply[1] == 0 else {
            let code = Socks5ReplyCode(rawValue: reply[1]).map { "\($0)" } ?? "\(reply[1])"
            return fail(context, "SOCKS5 reply \(reply[1]) (\(code))")
        }
        do {
            try context.pipeline.syncOperations.addHandler(EchoCollector(expected: payload, promise: promise), position: .after(self))
        } catch {
            return fail(context, "\(error)")
        }
        let rest = received
        received = ByteBuffer()
        context.writeAndFlush(wrapOutboundOut(payload), promise: nil)
        if rest.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(rest)) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ExchangeError("the proxy closed the connection during the handshake"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(context, "\(error)")
    }

    private func fail(_ context: ChannelHandlerContext, _ reason: String) {
        promise.fail(ExchangeError(reason))
        context.close(promise: nil)
    }
}
