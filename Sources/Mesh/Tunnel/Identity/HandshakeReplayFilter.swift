/// Refuses a handshake message 1 that is too old, too far in the future, or already seen.
///
/// Timestamps are the initiator's wall clock, so the window also bounds the clock skew the
/// cluster tolerates. Inside the window every accepted message is remembered (by its MAC), so a
/// captured message 1 replayed later gets no answer. Memory is bounded: past `capacity` the
/// oldest entries go, which can only re-admit a replay of a message an attacker could not have
/// produced without the PSK in the first place.
public struct HandshakeReplayFilter: Sendable {
    public let window: Int64
    public let capacity: Int
    private var seen: Set<[UInt8]> = []
    /// Seen messages in the order they arrived, for eviction (never iterated for behaviour
    /// other than dropping the oldest).
    private var order: [(timestamp: Int64, mac: [UInt8])] = []
    private var head = 0

    public init(window: Int64 = 120 * 1_000_000_000, capacity: Int = 4096) {
        self.window = window
        self.capacity = capacity
    }

    /// Accepts an initiation with `timestamp` and `mac` at wall-clock time `now`, or throws why not.
    public mutating func admit(timestamp: Int64, mac: [UInt8], now: Int64) throws(TunnelHandshakeRejection) {
        guard ClockSkew.isWithin(window, of: now, timestamp) else {
            throw .stale(skewSeconds: ClockSkew.seconds(from: timestamp, to: now))
        }
        expire(before: now - window)
        guard !seen.contains(mac) else { throw .replayed }
        if order.count - head >= capacity {
            seen.remove(order[head].mac)
            head += 1
        }
        seen.insert(mac)
        order.append((timestamp, mac))
        compact()
    }

    private mutating func expire(before limit: Int64) {
        while head < order.count, order[head].timestamp < limit {
            seen.remove(order[head].mac)
            head += 1
        }
    }

    private mutating func compact() {
        if head > 64, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
