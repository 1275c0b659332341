/// Virtual time in the simulator is `UInt64` nanoseconds since the start of the run.
public enum Nanoseconds {
    public static let microsecond: UInt64 = 1_000
    public static let millisecond: UInt64 = 1_000_000
    public static let second: UInt64 = 1_000_000_000
    public static let minute: UInt64 = 60 * second
    public static let hour: UInt64 = 60 * minute

    /// "1.250s", "12ms", "3h0m0s": what people read in summaries and errors.
    public static func format(_ value: UInt64) -> String {
        if value >= hour {
            let h = value / hour, m = (value % hour) / minute, s = (value % minute) / second
            return "\(h)h\(m)m\(s)s"
        }
        if value >= second {
            let millis = value / millisecond
            let fraction = String(millis % 1000)
            return "\(millis / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)s"
        }
        if value >= millisecond {
            let micros = value / microsecond
            let fraction = String(micros % 1000)
            return "\(micros / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)ms"
        }
        return "\(value / microsecond)us"
    }
}
