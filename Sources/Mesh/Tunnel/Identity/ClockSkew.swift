/// Compares two wall-clock readings in nanoseconds since the epoch when one of them came from a
/// peer. A peer may send any `Int64`, so the difference is taken without trapping: a difference
/// too large to represent is outside every window.
enum ClockSkew {
    /// Whether `a` and `b` lie within `window` nanoseconds of each other.
    static func isWithin(_ window: Int64, of a: Int64, _ b: Int64) -> Bool {
        let (difference, overflow) = a.subtractingReportingOverflow(b)
        return !overflow && difference.magnitude <= window.magnitude
    }

    /// `to - from` in whole seconds, saturating at the ends of `Int64` (for messages).
    static func seconds(from: Int64, to: Int64) -> Int64 {
        let (difference, overflow) = to.subtractingReportingOverflow(from)
        guard overflow else { return difference / 1_000_000_000 }
        return (to < from ? Int64.min : Int64.max) / 1_000_000_000
    }
}
