import ArgumentParser

/// `I/N` on the command line: shard I (from 0, as a Kubernetes indexed Job numbers its pods)
/// of N, the seeds whose offset in the range is I modulo N.
struct SweepShard: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var index: UInt64
    var count: UInt64

    init?(argument: String) {
        let parts = argument.split(separator: "/")
        guard parts.count == 2, let index = UInt64(parts[0]), let count = UInt64(parts[1]), count >= 1, index < count else {
            return nil
        }
        self.index = index
        self.count = count
    }

    /// Every shard of one.
    static let whole = SweepShard(argument: "0/1")!

    /// The seeds of `range` this shard runs.
    func seeds(of range: SeedRange) -> StrideThrough<UInt64> {
        stride(from: range.first + index, through: range.last, by: Int(count))
    }

    var description: String { "\(index)/\(count)" }
}
