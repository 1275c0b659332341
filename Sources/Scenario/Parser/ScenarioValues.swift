import Mesh
import NetworkTopology

/// The value syntaxes of scenario files: durations, probabilities, sizes, bandwidths, addresses
/// and endpoints. Each parser returns `nil` for text it does not accept; the matching `...Hint`
/// says what it accepts, for error messages.
public enum ScenarioValues {
    public static let durationHint = "examples: 250ms, 30s, 5m, 2h, 1h30m"
    public static let probabilityHint = "a percentage such as 1% or 0.5%, or a number in [0, 1]"
    public static let byteCountHint = "a number of bytes, or with a unit: 64KiB, 1MiB (binary), 64KB, 1MB (decimal)"
    public static let bandwidthHint = "examples: 512kbps, 10Mbps, 1Gbps"
    public static let addressHint = "a dotted-quad IPv4 address such as 192.168.1.10"
    public static let prefixHint = "an IPv4 prefix such as 192.168.1.0/24"
    public static let hostPortHint = "host:port, such as edge-1:8080 or 203.0.113.5:3478, port 1-65535"
    public static let portHint = "a port number 1-65535"
    public static let portRangeHint = "LOW-HIGH with ports 1-65535, such as 1024-65535"
    public static let nameHint = "letters, digits, '.', '-' and '_', starting with a letter or digit"

    /// Virtual time in nanoseconds: one or more `<number><unit>` parts ("1h30m", "1.5s") with units
    /// ns, us (or µs), ms, s, m, h. A bare number is refused, since "30" could mean any unit; the
    /// one exception is "0", which means the same in every unit.
    public static func duration(_ text: String) -> UInt64? {
        if text == "0" { return 0 }
        let units: [(String, UInt64)] = [
            ("ns", 1), ("us", Nanoseconds.microsecond), ("µs", Nanoseconds.microsecond),
            ("ms", Nanoseconds.millisecond), ("s", Nanoseconds.second), ("m", Nanoseconds.minute),
            ("h", Nanoseconds.hour),
        ]
        var rest = Substring(text)
        var total: UInt64 = 0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
            rest = rest.dropFirst(unitText.count)
            guard let decimal = DecimalNumeral(number),
                let unit = units.first(where: { $0.0 == unitText })?.1,
                let part = decimal.scaled(by: unit)
            else { return nil }
            let (sum, overflow) = total.addingReportingOverflow(part)
            guard !overflow else { return nil }
            total = sum
        }
        return total
    }

    /// The duration in the syntax `duration(_:)` reads ("1h30m", "1s500ms", "0s"), for messages
    /// that quote a computed time back to the author.
    public static func format(duration: UInt64) -> String {
        if duration == 0 { return "0s" }
        let units: [(String, UInt64)] = [
            ("h", Nanoseconds.hour), ("m", Nanoseconds.minute), ("s", Nanoseconds.second),
            ("ms", Nanoseconds.millisecond), ("us", Nanoseconds.microsecond), ("ns", 1),
        ]
        var rest = duration
        var text = ""
        for (name, size) in units where rest >= size {
            text += "\(rest / size)\(name)"
            rest %= size
        }
        return text
    }

    /// A probability in [0, 1]: "1%", "0.5%" or a plain number such as "0.25".
    public static func probability(_ text: String) -> Double? {
        let isPercent = text.hasSuffix("%")
        guard let decimal = DecimalNumeral(isPercent ? text.dropLast() : Substring(text)) else { return nil }
        // One correctly rounded division, so "0.1%" is exactly the Double literal 0.001.
        let value = decimal.doubleValue(extraScale: isPercent ? 2 : 0)
        guard let value, (0...1).contains(value) else { return nil }
        return value
    }

    /// Bytes: a plain count, or a number with a unit; KiB/MiB/GiB are powers of 1024 and
    /// kB/KB/MB/GB powers of 1000.
    public static func byteCount(_ text: String) -> Int? {
        let units: [(String, UInt64)] = [
            ("B", 1), ("kB", 1_000), ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000),
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("", 1),
        ]
        guard let value = numberWithUnit(text, units: units), value <= UInt64(Int.max) else { return nil }
        return Int(value)
    }

    /// Bits per second: "512kbps", "10Mbps", "1.5Gbps" (decimal multiples, as link rates are quoted).
    public static func bandwidth(_ text: String) -> UInt64? {
        let units: [(String, UInt64)] = [
            ("bps", 1), ("kbps", 1_000), ("Kbps", 1_000), ("Mbps", 1_000_000), ("Gbps", 1_000_000_000),
        ]
        return numberWithUnit(text, units: units)
    }

    public static func address(_ text: String) -> IPv4Address? {
        IPv4Address(text)
    }

    /// A prefix whose address has no bits set beyond its length: "192.168.1.7/24" is refused as a
    /// likely typo rather than silently read as 192.168.1.0/24.
    public static func prefix(_ text: String) -> IPv4Prefix? {
        guard let prefix = IPv4Prefix(text), let slash = text.firstIndex(of: "/"),
            IPv4Address(text[..<slash]) == prefix.network
        else { return nil }
        return prefix
    }

    public static func port(_ text: String) -> UInt16? {
        guard text.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(text), port > 0 else { return nil }
        return port
    }

    /// "host:port", where host is an IPv4 address or a name (node, workload or service); which
    /// one it is, is for the runner to resolve.
    public static func hostPort(_ text: String) -> (host: String, port: UInt16)? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        let host = String(text[..<colon])
        guard isValidName(host), let port = port(String(text[text.index(after: colon)...])) else { return nil }
        return (host, port)
    }

    /// "LOW-HIGH" (inclusive), or a single port.
    public static func portRange(_ text: String) -> ClosedRange<UInt16>? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            guard let port = port(String(parts[0])) else { return nil }
            return port...port
        case 2:
            guard let low = port(String(parts[0])), let high = port(String(parts[1])), low <= high
            else { return nil }
            return low...high
        default:
            return nil
        }
    }

    /// Names of networks, routers, nodes and workloads double as host names in "host:port".
    public static func isValidName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, first.isASCIIAlphanumeric else { return false }
        return text.unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || $0 == "." || $0 == "-" || $0 == "_" }
    }

    private static func numberWithUnit(_ text: String, units: [(String, UInt64)]) -> UInt64? {
        let number = text.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unitText = text.dropFirst(number.count)
        guard let decimal = DecimalNumeral(number), let unit = units.first(where: { $0.0 == unitText })?.1 else { return nil }
        return decimal.scaled(by: unit)
    }

    /// A non-negative decimal numeral kept exact: `digits / 10^scale`.
    private struct DecimalNumeral {
        var digits: UInt64
        var scale: Int

        init?(_ text: Substring) {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), parts.contains(where: { !$0.isEmpty }),
                parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } })
            else { return nil }
            // 18 digits always fit a UInt64, which keeps the arithmetic below simple.
            let significant = parts.joined().drop { $0 == "0" }
            guard significant.count <= 18, let digits = UInt64(significant.isEmpty ? "0" : String(significant))
            else { return nil }
            self.digits = digits
            self.scale = parts.count == 2 ? parts[1].count : 0
        }

        /// `self * unit` when that is a whole number that fits a UInt64.
        func scaled(by unit: UInt64) -> UInt64? {
            let (product, overflow) = digits.multipliedReportingOverflow(by: unit)
            guard !overflow else { return nil }
            var divisor: UInt64 = 1
            for _ in 0..<scale {
                let (next, overflow) = divisor.multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                divisor = next
            }
            guard product % divisor == 0 else { return nil }
            return product / divisor
        }

        /// `self / 10^extraScale` as the nearest Double, when both parts are exact Doubles.
        func doubleValue(extraScale: Int) -> Double? {
            let exponent = scale + extraScale
            guard digits <= 1 << 53, exponent <= 22 else { return nil }
            var divisor = 1.0
            for _ in 0..<exponent { divisor *= 10 }
            return Double(digits) / divisor
        }
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIIAlphanumeric: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
    }
}
