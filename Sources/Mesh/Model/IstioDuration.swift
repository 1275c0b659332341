import NIOCore

/// Istio's duration strings (`"10s"`, `"1.5s"`, `"10m"`, `"1h30m"`, `"100ms"`), as used by
/// cookie TTLs and timeouts, read into a `TimeAmount`.
///
/// Accepts one or more `<decimal><unit>` parts with units ns, us (or µs), ms, s, m, h.
/// Rejects signs, a bare number without a unit, and anything beyond what `TimeAmount` holds.
public enum IstioDuration {
    public static func parse(_ text: String) throws(IstioDurationError) -> TimeAmount {
        guard !text.isEmpty else { throw .empty }
        let scalars = Array(text.unicodeScalars)
        var index = 0
        var total: Int64 = 0
        while index < scalars.count {
            var whole: Int64 = 0, fraction: Int64 = 0, fractionScale: Int64 = 1
            var sawDigit = false, sawPoint = false
            while index < scalars.count {
                let scalar = scalars[index]
                if scalar == "." {
                    guard !sawPoint else { throw .invalidNumber(text) }
                    sawPoint = true
                } else if ("0"..."9").contains(scalar) {
                    let digit = Int64(scalar.value - 48)
                    sawDigit = true
                    if sawPoint {
                        // Digits beyond nanosecond precision of the largest unit cannot matter.
                        if fractionScale < 1_000_000_000_000_000 {
                            fraction = fraction * 10 + digit
                            fractionScale *= 10
                        }
                    } else {
                        let (shifted, overflow1) = whole.multipliedReportingOverflow(by: 10)
                        let (next, overflow2) = shifted.addingReportingOverflow(digit)
                        guard !overflow1, !overflow2 else { throw .outOfRange(text) }
                        whole = next
                    }
                } else {
                    break
                }
                index += 1
            }
            guard sawDigit else {
                if index < scalars.count, scalars[index] == "-" || scalars[index] == "+" {
                    throw .signed(text)
                }
                throw .invalidNumber(text)
            }
            let unitStart = index
            while index < scalars.count, !(scalars[index] == "." || ("0"..."9").contains(scalars[index])) {
                index += 1
            }
            let unit = String(String.UnicodeScalarView(scalars[unitStart..<index]))
            guard !unit.isEmpty else { throw .missingUnit(text) }
            guard let nanosPerUnit = Self.units[unit] else { throw .unknownUnit(text, unit: unit) }
            let (wholeNanos, overflow1) = whole.multipliedReportingOverflow(by: nanosPerUnit)
            // fraction < fractionScale ≤ 10^18 and nanosPerUnit ≤ 3.6·10^12: divide the scale down first.
            let fractionNanos = fractionPart(fraction, scale: fractionScale, nanosPerUnit: nanosPerUnit)
            let (partNanos, overflow2) = wholeNanos.addingReportingOverflow(fractionNanos)
            let (sum, overflow3) = total.addingReportingOverflow(partNanos)
            guard !overflow1, !overflow2, !overflow3 else { throw .outOfRange(text) }
            total = sum
        }
        return .nanoseconds(total)
    }

    private static let units: [String: Int64] = [
        "ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000,
        "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
    ]

    /// `fraction / scale` of a unit, in whole nanoseconds (truncated), without overflowing.
    private static func fractionPart(_ fraction: Int64, scale: Int64, nanosPerUnit: Int64) -> Int64 {
        guard fraction > 0 else { return 0 }
        let (product, overflow) = fraction.multipliedReportingOverflow(by: nanosPerUnit)
        if !overflow { return product / scale }
        // Large scale: trade precision below a nanosecond for range.
        var fraction = fraction, scale = scale
        while scale > 1, fraction.multipliedReportingOverflow(by: nanosPerUnit).overflow {
            fraction /= 10
            scale /= 10
        }
        return fraction * nanosPerUnit / scale
    }
}

/// Why a duration string was rejected; each case carries the text as given.
public enum IstioDurationError: Error, Hashable, Sendable, CustomStringConvertible {
    case empty
    case signed(String)
    case invalidNumber(String)
    case missingUnit(String)
    case unknownUnit(String, unit: String)
    case outOfRange(String)

    public var description: String {
        switch self {
        case .empty: "empty duration: write a number and a unit, e.g. \"10s\""
        case .signed(let text): "invalid duration \"\(text)\": durations cannot carry a sign"
        case .invalidNumber(let text): "invalid duration \"\(text)\": expected a decimal number before each unit"
        case .missingUnit(let text): "invalid duration \"\(text)\": a unit (ns, us, ms, s, m, h) must follow the number"
        case .unknownUnit(let text, let unit):
            "invalid duration \"\(text)\": unknown unit \"\(unit)\" (use ns, us, ms, s, m or h)"
        case .outOfRange(let text): "invalid duration \"\(text)\": too long to represent"
        }
    }
}
