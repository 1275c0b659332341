import Mesh
import NIOCore

/// A simulated listening TCP socket as a NIO server channel. Each completed handshake becomes
/// a `SimStreamChannel`, configured by the child initializer and then activated, in the order
/// `ServerBootstrap` uses on Linux.
final class SimListenerChannel: SimChannel, TCPAcceptor, @unchecked Sendable {
    private let childInitializer: @Sendable (Channel) -> EventLoopFuture<Void>
    private let childHalfClosure: Bool
    private var listening = false

    override var isActive: Bool { listening }

    init(
        kernel: SimKernel, local: Endpoint, allowRemoteHalfClosure: Bool,
        childInitializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) {
        self.childInitializer = childInitializer
        self.childHalfClosure = allowRemoteHalfClosure
        super.init(kernel: kernel, parent: nil)
        self.local = local
    }

    var listeningAddress: IPv4Address { local?.address ?? .any }

    func startListening() {
        kernel.listen(self, port: local!.port)
        register0(promise: nil)
        listening = true
        pipeline.fireChannelActive()
    }

    func accept(_ connection: TCPConnection) {
        guard listening else {
            connection.abort()
            return
        }
        let child = SimStreamChannel(kernel: kernel, parent: self, accepted: connection)
        child.allowRemoteHalfClosure = childHalfClosure
        childInitializer(child).whenComplete { result in
            switch result {
            case .success:
                child.register0(promise: nil)
                child.activateAccepted()
            case .failure(let error):
                connection.abort()
                child.closeCompletely(error: error, promise: nil)
            }
        }
    }

    override func releaseSocket(error: Error) {
        if listening { kernel.stopListening(self, port: local!.port) }
        listening = false
    }
}
