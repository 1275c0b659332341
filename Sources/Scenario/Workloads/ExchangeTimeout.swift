import Mesh
import NIOCore

/// A failure reason that reads well in a summary table.
public struct ExchangeError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }

    public static let timedOut = ExchangeError("timed out")
}

extension EventLoopFuture {
    /// This future, or a failure with `ExchangeError.timedOut` after `timeout`, whichever comes
    /// first; `onTimeout` runs when the timeout wins (to close a channel, say).
    func withTimeout(_ timeout: TimeAmount, onTimeout: @escaping @Sendable () -> Void = {}) -> EventLoopFuture<Value> {
        let promise = eventLoop.makePromise(of: Value.self)
        let timer = eventLoop.scheduleTask(in: timeout) {
            promise.fail(ExchangeError.timedOut)
            onTimeout()
        }
        whenComplete { result in
            timer.cancel()
            promise.completeWith(result)
        }
        return promise.futureResult
    }
}
