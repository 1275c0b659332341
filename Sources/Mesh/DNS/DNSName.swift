/// A fully qualified domain name as a sequence of labels.
///
/// Labels keep the case they were given (it is echoed back in answers, RFC 4343), while equality
/// and hashing ignore ASCII case, as DNS matching does. Every value satisfies the RFC 1035 limits:
/// labels of 1...63 octets and at most 255 octets in wire form.
public struct DNSName: Hashable, Sendable, CustomStringConvertible {
    public static let maximumLabelLength = 63
    public static let maximumWireLength = 255

    /// The labels, most specific first; empty for the root.
    public let labels: [[UInt8]]

    public static let root = DNSName(uncheckedLabels: [])

    /// Labels already known to satisfy the limits (the wire reader checks them as it goes).
    init(uncheckedLabels labels: [[UInt8]]) {
        self.labels = labels
    }

    /// Builds a name from raw labels, checking the RFC 1035 limits.
    public init(labels: [[UInt8]]) throws(DNSNameError) {
        for label in labels {
            if label.isEmpty { throw .emptyLabel(name: DNSName.text(of: labels)) }
            if label.count > DNSName.maximumLabelLength {
                throw .labelTooLong(label: DNSName.text(of: [label]), length: label.count)
            }
        }
        let wireLength = DNSName.wireLength(of: labels)
        if wireLength > DNSName.maximumWireLength {
            throw .nameTooLong(name: DNSName.text(of: labels), wireLength: wireLength)
        }
        self.labels = labels
    }

    /// Parses presentation format: "web.default.svc.cluster.local" with or without the final dot
    /// (every name is taken as absolute), "." for the root, and the RFC 1035 §5.1 escapes `\.`,
    /// `\\` and `\DDD` for octets that are not plain text.
    public init(_ text: String) throws(DNSNameError) {
        if text == "." {
            self = .root
            return
        }
        var labels: [[UInt8]] = []
        var current: [UInt8] = []
        let bytes = Array(text.utf8)
        var index = 0
        // A trailing dot only marks the name absolute; it does not open an empty label.
        let end = bytes.last == UInt8(ascii: ".") && !DNSName.isEscaped(bytes, at: bytes.count - 1)
            ? bytes.count - 1 : bytes.count
        if end == 0 { throw .emptyLabel(name: text) }
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: ".") {
                if current.isEmpty { throw .emptyLabel(name: text) }
                labels.append(current)
                current = []
                index += 1
            } else if byte == UInt8(ascii: "\\") {
                guard index + 1 < end else { throw .invalidEscape(name: text) }
                let next = bytes[index + 1]
                if DNSName.isDigit(next) {
                    guard index + 3 < end, DNSName.isDigit(bytes[index + 2]), DNSName.isDigit(bytes[index + 3])
                    else { throw .invalidEscape(name: text) }
                    let value = Int(next - 48) * 100 + Int(bytes[index + 2] - 48) * 10 + Int(bytes[index + 3] - 48)
                    guard value <= 255 else { throw .invalidEscape(name: text) }
                    current.append(UInt8(value))
                    index += 4
                } else {
                    current.append(next)
                    index += 2
                }
            } else {
                current.append(byte)
                index += 1
            }
        }
        if current.isEmpty { throw .emptyLabel(name: text) }
        labels.append(current)
        try self.init(labels: labels)
    }

    public var isRoot: Bool { labels.isEmpty }

    /// Octets this name takes uncompressed on the wire: a length octet per label plus the root's.
    public var wireLength: Int { DNSName.wireLength(of: labels) }

    /// True when `self` equals `other` or lies below it ("a.b.c" is a subdomain of "b.c" and of ".").
    public func isSubdomain(of other: DNSName) -> Bool {
        guard other.labels.count <= labels.count else { return false }
        let offset = labels.count - other.labels.count
        for index in other.labels.indices
        where !DNSName.labelsEqual(labels[offset + index], other.labels[index]) {
            return false
        }
        return true
    }

    /// The name without its first `count` labels (the parent for 1); `nil` when too few labels.
    public func dropping(first count: Int) -> DNSName? {
        guard count >= 0, count <= labels.count else { return nil }
        return DNSName(uncheckedLabels: Array(labels.dropFirst(count)))
    }

    /// This name with `other`'s labels appended, for search suffixes; throws when too long.
    public func appending(_ other: DNSName) throws(DNSNameError) -> DNSName {
        try DNSName(labels: labels + other.labels)
    }

    /// The labels folded to lower case: the key for comparisons and compression.
    var lowercasedLabels: [[UInt8]] { labels.map(DNSName.lowercased) }

    public static func == (lhs: DNSName, rhs: DNSName) -> Bool {
        guard lhs.labels.count == rhs.labels.count else { return false }
        for index in lhs.labels.indices where !labelsEqual(lhs.labels[index], rhs.labels[index]) {
            return false
        }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(labels.count)
        for label in labels {
            hasher.combine(label.count)
            for byte in label { hasher.combine(DNSName.lowercased(byte)) }
        }
    }

    /// Presentation format with a final dot, escaping dots, backslashes and non-printable octets.
    public var description: String { DNSName.text(of: labels) }

    static func text(of labels: [[UInt8]]) -> String {
        if labels.isEmpty { return "." }
        var output: [UInt8] = []
        for label in labels {
            for byte in label {
                switch byte {
                case UInt8(ascii: "."), UInt8(ascii: "\\"):
                    output.append(UInt8(ascii: "\\"))
                    output.append(byte)
                case 0x21...0x7E:
                    output.append(byte)
                default:
                    output.append(UInt8(ascii: "\\"))
                    output.append(48 + byte / 100)
                    output.append(48 + byte / 10 % 10)
                    output.append(48 + byte % 10)
                }
            }
            output.append(UInt8(ascii: "."))
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func wireLength(of labels: [[UInt8]]) -> Int {
        labels.reduce(1) { $0 + 1 + $1.count }
    }

    static func labelsEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for index in lhs.indices where lowercased(lhs[index]) != lowercased(rhs[index]) {
            return false
        }
        return true
    }

    /// ASCII-only folding: DNS case-insensitivity covers A-Z alone (RFC 4343).
    static func lowercased(_ byte: UInt8) -> UInt8 {
        (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
    }

    static func lowercased(_ label: [UInt8]) -> [UInt8] { label.map(lowercased) }

    private static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }

    /// Whether the octet at `index` is escaped by an odd run of backslashes before it.
    private static func isEscaped(_ bytes: [UInt8], at index: Int) -> Bool {
        var backslashes = 0
        var cursor = index - 1
        while cursor >= 0, bytes[cursor] == UInt8(ascii: "\\") {
            backslashes += 1
            cursor -= 1
        }
        return backslashes % 2 == 1
    }
}
