import Mesh
import NIOCore

/// Interception in the simulator: a routing hook in the node's kernel, the stand-in for the
/// nftables `redirect` rules the Linux backend installs.
final class SimInterception: TrafficInterception, @unchecked Sendable {
    private unowned let kernel: SimKernel
    private let loop: EventLoop

    init(kernel: SimKernel, loop: EventLoop) {
        self.kernel = kernel
        self.loop = loop
    }

    func apply(_ rules: [InterceptionRule]) -> EventLoopFuture<Void> {
        kernel.setInterceptions(rules)
        return loop.makeSucceededVoidFuture()
    }

    func removeAll() -> EventLoopFuture<Void> {
        kernel.setInterceptions([])
        return loop.makeSucceededVoidFuture()
    }
}
