/// The bytes all of a node's tunnel streams together may receive and not yet hand on: each
/// stream's receive window (what the peer may send before it is granted more) is reserved from
/// it when the stream opens and given back when it closes. While the budget is plentiful a
/// stream gets the full configured window; when it runs low, a smaller one (down to
/// `minimumWindow`, which still carries bytes, in smaller steps); below that the stream is
/// refused. So however many streams peers open, and however slowly their targets read, what
/// the node buffers for them stays under the budget.
///
/// Confined to the host's event loop.
final class TunnelReceiveBudget {
    /// Below this a window would make a stream crawl; such a stream is refused instead.
    static let minimumWindow = 16 * 1024

    let capacity: Int
    private(set) var reserved = 0
    /// Streams refused because less than `minimumWindow` was left.
    private(set) var refusals: UInt64 = 0

    init(capacity: Int) {
        self.capacity = max(Self.minimumWindow, capacity)
    }

    /// Reserves a window of at most `window` bytes; `nil` when less than the minimum is left.
    func reserve(upTo window: Int) -> Int? {
        let granted = min(window, capacity - reserved)
        guard granted >= min(window, Self.minimumWindow) else {
            refusals += 1
            return nil
        }
        reserved += granted
        return granted
    }

    func release(_ window: Int) {
        reserved -= window
    }
}
