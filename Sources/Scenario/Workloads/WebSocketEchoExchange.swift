import Mesh
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Opens a WebSocket over a new connection, sends one text message and waits for its echo.
enum WebSocketEchoExchange {
    static func echo(
        on host: any Host, address: IPv4Address, port: UInt16, authority: String, message: String, note: RequestSocketNote? = nil
    ) -> EventLoopFuture<Void> {
        let echoed = host.eventLoop.makePromise(of: Void.self)
        var random = host.random
        // The key and mask come from the host's generator, so a simulated run stays reproducible.
        let requestKey = NIOWebSocketClientUpgrader.randomRequestKey(using: &random)
        let maskKey = WebSocketMaskingKey.random(using: &random)
        let connected = host.connectStream(StreamConnectOptions(remote: address.socketAddress(port: port))) { channel in
            let upgrader = NIOWebSocketClientUpgrader(requestKey: requestKey) { channel, _ in
                channel.pipeline.addHandler(WebSocketEchoCollector(message: message, maskKey: maskKey, promise: echoed))
            }
            return channel.pipeline.addHTTPClientHandlers(
                withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
        }
        connected.whenFailure { echoed.fail($0) }
        connected.whenSuccess { channel in
            note?.note(channel)
            channel.sendGET(authority: authority, headers: [("Content-Length", "0")])
            echoed.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        return echoed.futureResult
    }
}

/// Sends the message once the upgrade is done and checks the echo.
final class WebSocketEchoCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let message: String
    private let maskKey: WebSocketMaskingKey
    private let promise: EventLoopPromise<Void>

    init(message: String, maskKey: WebSocketMaskingKey, promise: EventLoopPromise<Void>) {
        self.message = message
        self.maskKey = maskKey
        self.promise = promise
    }

    func handlerAdded(context: ChannelHandlerContext) {
        var data = context.channel.allocator.buffer(capacity: message.utf8.count)
        data.writeString(message)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, maskKey: maskKey, data: data)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard frame.opcode == .text else { return }
        if String(buffer: frame.unmaskedData) == message {
            promise.succeed()
        } else {
            promise.fail(ExchangeError("websocket echo differs from what was sent"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ExchangeError("websocket closed before the echo"))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
