/// Counts the datagrams a node's UDP bridges dropped because the stream back to the peer had no
/// room (its window full, the peer not reading). Confined to the host's event loop.
final class TunnelDatagramDrops: @unchecked Sendable {
    private(set) var count = 0

    func record() { count += 1 }
}
