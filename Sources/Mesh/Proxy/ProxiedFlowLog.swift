/// The proxy's most recent flows, oldest first, in a ring of fixed size: what `GET /flows`
/// serves. Bounded, since a client opening connections in a loop must not grow the agent;
/// observers (a simulation's invariants) see every flow as it is recorded.
///
/// Confined to the proxy's event loop.
public struct ProxiedFlowLog {
    /// Flows kept by default: a few minutes of a busy node's new connections, about 64 KiB.
    public static let defaultCapacity = 256

    public let capacity: Int
    private var ring: [ProxiedFlow] = []
    /// Where the next flow goes once the ring is full.
    private var oldest = 0
    /// Flows recorded since the proxy started (the last id given).
    public private(set) var recorded: UInt64 = 0
    private var observers: [(ProxiedFlow) -> Void] = []

    public init(capacity: Int = Self.defaultCapacity) {
        self.capacity = max(1, capacity)
    }

    /// Calls `observer` with each flow recorded from now on.
    public mutating func observe(_ observer: @escaping (ProxiedFlow) -> Void) {
        observers.append(observer)
    }

    /// Gives `flow` the next id, keeps it (dropping the oldest when full), and tells observers.
    mutating func record(_ flow: ProxiedFlow) {
        recorded += 1
        var flow = flow
        flow.id = recorded
        if ring.count < capacity {
            ring.append(flow)
        } else {
            ring[oldest] = flow
            oldest = (oldest + 1) % capacity
        }
        for observer in observers { observer(flow) }
    }

    /// The kept flows, oldest first.
    public var flows: [ProxiedFlow] {
        Array(ring[oldest...] + ring[..<oldest])
    }
}
