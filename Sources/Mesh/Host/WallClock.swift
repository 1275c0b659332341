/// Wall-clock time as seen by a host: real on Linux, virtual in `NetSim`.
public protocol WallClock: Sendable {
    /// Nanoseconds since the Unix epoch.
    var nanosecondsSinceEpoch: Int64 { get }
}

extension WallClock {
    public var secondsSinceEpoch: Int64 { nanosecondsSinceEpoch / 1_000_000_000 }
}
