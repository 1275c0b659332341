import Mesh
import NIOCore

/// Interception for a process that only talks (a command-line client): applying rules fails
/// with a clear error instead of touching the node's nftables.
public struct DisabledInterception: TrafficInterception {
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String { "traffic interception is only available to the agent" }
    }

    private let eventLoop: EventLoop

    public init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
    }

    public func apply(_ rules: [InterceptionRule]) -> EventLoopFuture<Void> {
        rules.isEmpty ? eventLoop.makeSucceededVoidFuture() : eventLoop.makeFailedFuture(Unavailable())
    }

    public func removeAll() -> EventLoopFuture<Void> { eventLoop.makeSucceededVoidFuture() }
}
