import NIOCore

/// The `.holePunched` path: a direct connection through both NATs, punched with the relays' help.
final class HolePunchDialer: PeerPathDialer, @unchecked Sendable {
    private let service: HolePunchService

    init(service: HolePunchService) {
        self.service = service
    }

    var kind: PeerPathKind { .holePunched }

    func dial(node: String) -> EventLoopFuture<Channel> {
        service.host.eventLoop.flatSubmit { self.service.punch(to: node) }
    }
}
