import Mesh
import NIOCore
@testable import Scenario

// Small handlers the conformance tests build pipelines from. Each is created inside a channel
// initializer and added with `pipeline.syncOperations`, so it lives on its channel's loop and
// needs no Sendable conformance; results leave through promises, which are thread-safe.

/// Writes every byte it reads straight back; closes once the peer has finished sending.
final class StreamEchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // Close only after the echoes already queued have gone out (writes complete in order).
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Gathers a stream's bytes. Succeeds with them once `expectedCount` bytes have arrived, or,
/// without a count, when the channel closes; fails on an error.
final class ByteCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let expectedCount: Int?
    private let promise: EventLoopPromise<ByteBuffer>
    private var received = ByteBuffer()

    init(expectedCount: Int? = nil, promise: EventLoopPromise<ByteBuffer>) {
        self.expectedCount = expectedCount
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        if let expectedCount, received.readableBytes >= expectedCount {
            promise.succeed(received)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // With an expected count, closing early is a failure, not a short success.
        if expectedCount == nil {
            promise.succeed(received)
        } else {
            promise.fail(ChannelError.eof)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}

/// Succeeds with the first `count` datagrams received.
final class DatagramCollector: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let count: Int
    private let promise: EventLoopPromise<[AddressedEnvelope<ByteBuffer>]>
    private var received: [AddressedEnvelope<ByteBuffer>] = []

    init(count: Int, promise: EventLoopPromise<[AddressedEnvelope<ByteBuffer>]>) {
        self.count = count
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received.append(unwrapInboundIn(data))
        if received.count == count {
            promise.succeed(received)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        promise.fail(error)
    }
}

/// The server side of the half-close test: reads until the peer shuts its output, reports what
/// it read, then still sends `reply` and closes, which only works if the channel stayed half-open.
final class HalfCloseResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let reply: String
    private let inputClosed: EventLoopPromise<ByteBuffer>
    private var received = ByteBuffer()

    init(reply: String, inputClosed: EventLoopPromise<ByteBuffer>) {
        self.reply = reply
        self.inputClosed = inputClosed
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        inputClosed.succeed(received)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Closed without ever seeing the half-close: the event the test waits for never came.
        inputClosed.fail(ChannelError.eof)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        inputClosed.fail(error)
        context.close(promise: nil)
    }
}

/// Holds every outbound `read` until `open`, then passes them all; counts the bytes it lets by.
/// Touched only on its channel's loop; `@unchecked Sendable` so the test can hand it across.
final class ReadGate: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Never

    private(set) var heldReads = 0
    private(set) var bytesSeen = 0
    private var isOpen = false
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func read(context: ChannelHandlerContext) {
        if isOpen { context.read() } else { heldReads += 1 }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytesSeen += unwrapInboundIn(data).readableBytes
        context.fireChannelRead(data)
    }

    func open() {
        isOpen = true
        if heldReads > 0 { context?.read() }
    }
}

/// Resets every connection it is given as soon as it is up: a server that refuses to serve.
final class ResetOnActiveHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let host: any Host

    init(host: any Host) {
        self.host = host
    }

    func channelActive(context: ChannelHandlerContext) {
        host.resetStream(context.channel)
        context.fireChannelActive()
    }
}
