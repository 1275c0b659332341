import Mesh

/// Virtual wall-clock time: a fixed epoch plus the simulator's clock, so certificate checks
/// and timestamps are as reproducible as everything else; plus the node's skew while a
/// `clockSkew` fault holds it.
struct SimWallClock: WallClock, @unchecked Sendable {
    /// 2026-01-01T00:00:00Z: every run starts at the same date.
    static let epoch: Int64 = 1_767_225_600 * 1_000_000_000

    unowned let simulator: Simulator
    unowned let node: SimNode

    var nanosecondsSinceEpoch: Int64 { Self.epoch + Int64(simulator.now) + node.clockSkew }
}
