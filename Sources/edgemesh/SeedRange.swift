import ArgumentParser

/// `A..B` on the command line: the seeds from A to B, both included.
struct SeedRange: ExpressibleByArgument, Sendable {
    var first: UInt64
    var last: UInt64

    init?(argument: String) {
        let parts = argument.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].isEmpty, let first = UInt64(parts[0]), let last = UInt64(parts[2]), first <= last,
            last - first < 10_000_000
        else { return nil }
        self.first = first
        self.last = last
    }

    var seeds: ClosedRange<UInt64> { first...last }
    var count: Int { Int(last - first) + 1 }
}
