import NIOCore
import NIOHTTP1

/// Reads one API response. A plain request collects the body; a watch hands each complete
/// line to `onLine` as it arrives, whatever the chunking (one event split across chunks, or
/// several in one). Nothing arriving for `idleTimeout` fails the response, since a silently
/// dead connection (a flapping edge link) would otherwise keep a watch waiting forever.
final class KubernetesResponseHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    /// The longest watch line accepted; a larger one means a broken or hostile server.
    static let maximumLineLength = 16 << 20
    /// The largest list, patch or error body accepted (a list of every pod of a large cluster
    /// is tens of MiB); past it the request fails and the connection closes.
    static let defaultMaximumBodyLength = 128 << 20

    let finished: EventLoopPromise<ByteBuffer>
    private let onLine: ((ByteBuffer) -> Void)?
    private let idleTimeout: TimeAmount
    private let maximumBodyLength: Int
    private var status: HTTPResponseStatus?
    private var body = ByteBuffer()
    private var idleTimer: Scheduled<Void>?

    init(
        finished: EventLoopPromise<ByteBuffer>, idleTimeout: TimeAmount, maximumBodyLength: Int = defaultMaximumBodyLength,
        onLine: ((ByteBuffer) -> Void)?
    ) {
        self.finished = finished
        self.idleTimeout = idleTimeout
        self.maximumBodyLength = maximumBodyLength
        self.onLine = onLine
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Added after the connection is up on some backends: then no channelActive follows.
        if context.channel.isActive { armIdleTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armIdleTimer(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        armIdleTimer(context: context)
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
        case .body(var buffer):
            body.writeBuffer(&buffer)
            if status == .ok, onLine != nil {
                deliverLines(context: context)
            } else if body.readableBytes > maximumBodyLength {
                idleTimer?.cancel()
                finished.fail(KubernetesAPIError.bodyTooLarge(bytes: maximumBodyLength))
                context.close(promise: nil)
            }
        case .end:
            idleTimer?.cancel()
            if status == .ok {
                // A watch's unterminated last line is a cut-off event: dropped, the re-watch resends it.
                finished.succeed(onLine == nil ? body : ByteBuffer())
            } else {
                let status = try? KubernetesDecoder.decode(KubernetesStatus.self, json: body)
                finished.fail(KubernetesAPIError.status(code: Int(self.status?.code ?? 0), status))
            }
            context.close(promise: nil)
        }
    }

    private func deliverLines(context: ChannelHandlerContext) {
        guard let onLine else { return }
        while let newline = body.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - body.readerIndex
            let line = body.readSlice(length: length)!
            body.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\r") }) {
                onLine(line)
            }
        }
        body.discardReadBytes()
        if body.readableBytes > Self.maximumLineLength {
            finished.fail(KubernetesAPIError.lineTooLong(bytes: Self.maximumLineLength))
            context.close(promise: nil)
        }
    }

    private func armIdleTimer(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        let finished = self.finished
        let channel = context.channel
        let seconds = idleTimeout.nanoseconds / 1_000_000_000
        idleTimer = context.eventLoop.scheduleTask(in: idleTimeout) {
            finished.fail(KubernetesAPIError.idleTimeout(seconds: seconds))
            channel.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        finished.fail(KubernetesAPIError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        idleTimer?.cancel()
        finished.fail(KubernetesAPIError.describingTLS(error))
        context.close(promise: nil)
    }
}
