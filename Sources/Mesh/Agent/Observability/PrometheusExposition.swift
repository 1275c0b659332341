/// Writes metrics in the Prometheus text exposition format (version 0.0.4).
///
/// The agent's components keep plain counters on their event loop; a scrape renders them here.
/// This stands in for swift-metrics on purpose: its push model costs an atomic update per
/// event on the packet path and two more dependencies, for numbers the components already keep.
public struct PrometheusExposition: Sendable {
    public enum Kind: String, Sendable {
        case counter, gauge
    }

    public private(set) var text = ""
    private var declared: Set<String> = []

    public init() {}

    /// Adds one sample; the first sample of a metric also writes its HELP and TYPE lines.
    /// Labels are written in the order given (callers pass a fixed order).
    public mutating func add(
        _ name: String, _ kind: Kind, help: String, labels: [(String, String)] = [], value: Double
    ) {
        if declared.insert(name).inserted {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n"
        }
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " \(Self.format(value))\n"
    }

    public mutating func add<Integer: BinaryInteger>(
        _ name: String, _ kind: Kind, help: String, labels: [(String, String)] = [], value: Integer
    ) {
        add(name, kind, help: help, labels: labels, value: Double(value))
    }

    private static func escape(_ value: String) -> String {
        value.escaping(["\\": "\\\\", "\"": "\\\"", "\n": "\\n"])
    }

    private static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
