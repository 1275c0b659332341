import NIOCore

/// Adds one `Set-Cookie` header to the first HTTP response going back to the client, for the
/// consistent-hash-by-cookie policy when the client had no cookie yet (what Istio does), and
/// leaves every other byte as the backend sent it.
///
/// It holds back only the response's status line (bounded); a response that does not begin
/// like an HTTP/1.x status line goes out unchanged. After the first response it is inert.
final class SetCookieInjector: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case waitingForStatusLine(ByteBuffer, flushRequested: Bool)
        case done
    }

    private let headerLine: String
    private var state: State = .waitingForStatusLine(ByteBuffer(), flushRequested: false)
    /// Longer status lines are not HTTP as any server writes it; give up and pass them on.
    static let maximumStatusLineLength = 8 * 1024

    init(setCookie value: String) {
        self.headerLine = "Set-Cookie: \(value)\r\n"
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .waitingForStatusLine(var held, let flushRequested) = state else {
            context.write(data, promise: promise)
            return
        }
        var incoming = unwrapOutboundIn(data)
        held.writeBuffer(&incoming)
        let view = held.readableBytesView
        if !view.starts(with: "HTTP/1.".utf8.prefix(view.count)) || view.count > Self.maximumStatusLineLength {
            release(held, context: context, promise: promise, flush: flushRequested)
            return
        }
        guard let lineEnd = view.firstIndex(of: UInt8(ascii: "\n")) else {
            state = .waitingForStatusLine(held, flushRequested: flushRequested)
            promise?.succeed()
            return
        }
        let statusLineLength = lineEnd - view.startIndex + 1
        var output = context.channel.allocator.buffer(capacity: held.readableBytes + headerLine.utf8.count)
        output.writeImmutableBuffer(held.getSlice(at: held.readerIndex, length: statusLineLength)!)
        output.writeString(headerLine)
        output.writeImmutableBuffer(held.getSlice(
            at: held.readerIndex + statusLineLength, length: held.readableBytes - statusLineLength)!)
        release(output, context: context, promise: promise, flush: flushRequested)
    }

    func flush(context: ChannelHandlerContext) {
        if case .waitingForStatusLine(let held, _) = state {
            state = .waitingForStatusLine(held, flushRequested: true)
        }
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if case .waitingForStatusLine(let held, _) = state, held.readableBytes > 0 {
            release(held, context: context, promise: nil, flush: true)
        }
        state = .done
        context.close(mode: mode, promise: promise)
    }

    private func release(_ buffer: ByteBuffer, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?, flush: Bool) {
        state = .done
        context.write(wrapOutboundOut(buffer), promise: promise)
        if flush { context.flush() }
    }
}
