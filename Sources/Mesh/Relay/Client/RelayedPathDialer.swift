import NIOCore

/// The `.relayed` path: a circuit through the first relay that reaches the node.
final class RelayedPathDialer: PeerPathDialer, @unchecked Sendable {
    private let client: RelayClient

    init(client: RelayClient) {
        self.client = client
    }

    var kind: PeerPathKind { .relayed }

    func dial(node: String) -> EventLoopFuture<Channel> {
        client.host.eventLoop.flatSubmit { self.client.openCircuit(to: node) }
    }
}
