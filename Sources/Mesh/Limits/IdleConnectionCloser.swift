import NIOCore

/// Closes a connection on which no byte has moved either way for `timeout`, by the host's clock
/// (NIO's `IdleStateHandler` reads the wall clock, which the simulator does not drive). It
/// sits first in the pipeline so it sees every read and write, spliced or not.
final class IdleConnectionCloser: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny
    typealias InboundOut = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private let timeout: TimeAmount
    private let now: () -> NIODeadline
    private let closed: () -> Void
    private var lastActivity: NIODeadline
    private var check: Scheduled<Void>?

    /// `closed` is called when the handler closes the connection for idleness.
    init(timeout: TimeAmount, now: @escaping () -> NIODeadline, closed: @escaping () -> Void) {
        self.timeout = timeout
        self.now = now
        self.closed = closed
        self.lastActivity = now()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        lastActivity = now()
        schedule(context, in: timeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = now()
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        lastActivity = now()
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }

    private func schedule(_ context: ChannelHandlerContext, in delay: TimeAmount) {
        check = context.eventLoop.scheduleTask(in: delay) { [weak self, weak context] in
            guard let self, let context else { return }
            let idle = self.now() - self.lastActivity
            if idle >= self.timeout {
                self.check = nil
                self.closed()
                context.close(promise: nil)
            } else {
                self.schedule(context, in: self.timeout - idle)
            }
        }
    }
}
