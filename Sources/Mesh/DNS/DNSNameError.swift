/// Why a textual domain name was rejected by `DNSName.init(_:)`.
public enum DNSNameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Two dots in a row, or a leading dot in anything but the root name ".".
    case emptyLabel(name: String)
    /// A label of more than 63 octets (RFC 1035 §2.3.4).
    case labelTooLong(label: String, length: Int)
    /// The name needs more than 255 octets in wire form (RFC 1035 §2.3.4).
    case nameTooLong(name: String, wireLength: Int)
    /// A backslash escape that is not `\X` or `\DDD` with DDD ≤ 255.
    case invalidEscape(name: String)

    public var description: String {
        switch self {
        case .emptyLabel(let name):
            return "invalid DNS name \"\(name)\": empty label (two dots in a row or a leading dot)"
        case .labelTooLong(let label, let length):
            return "invalid DNS name: label \"\(label)\" is \(length) octets; labels are at most 63"
        case .nameTooLong(let name, let wireLength):
            return "invalid DNS name \"\(name)\": \(wireLength) octets in wire form; names are at most 255"
        case .invalidEscape(let name):
            return "invalid DNS name \"\(name)\": a backslash must be followed by a character or three digits ≤ 255"
        }
    }
}
