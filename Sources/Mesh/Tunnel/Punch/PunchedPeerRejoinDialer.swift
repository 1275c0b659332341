import NIOCore

/// The `.holePunched` path without a relay: a connection to where a peer was punched before
/// (`PunchedPeerRejoin`), tried only while no relay is in reach.
final class PunchedPeerRejoinDialer: PeerPathDialer, @unchecked Sendable {
    private let rejoin: PunchedPeerRejoin
    private let eventLoop: EventLoop

    init(rejoin: PunchedPeerRejoin, eventLoop: EventLoop) {
        self.rejoin = rejoin
        self.eventLoop = eventLoop
    }

    var kind: PeerPathKind { .holePunched }

    func dial(node: String) -> EventLoopFuture<Channel> {
        eventLoop.flatSubmit { self.rejoin.dial(node) }
    }
}
