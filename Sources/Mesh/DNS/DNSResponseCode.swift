/// A response code of up to 12 bits: the header's 4 low bits joined with the 8 high bits that
/// EDNS carries in the OPT record (RFC 6891 §6.1.3).
public struct DNSResponseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// Only the low 12 bits are representable on the wire.
    public var rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue & 0x0FFF
    }

    public static let noError = DNSResponseCode(rawValue: 0)
    public static let formatError = DNSResponseCode(rawValue: 1)
    public static let serverFailure = DNSResponseCode(rawValue: 2)
    public static let nameError = DNSResponseCode(rawValue: 3)
    public static let notImplemented = DNSResponseCode(rawValue: 4)
    public static let refused = DNSResponseCode(rawValue: 5)
    /// BADVERS: the query's EDNS version is not supported (needs EDNS to be sent).
    public static let badVersion = DNSResponseCode(rawValue: 16)

    /// The bits that go in the header.
    var headerBits: UInt16 { rawValue & 0x0F }
    /// The bits that go in the OPT record's extended RCODE octet.
    var extendedBits: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 4) }

    public var description: String {
        switch self {
        case .noError: return "NOERROR"
        case .formatError: return "FORMERR"
        case .serverFailure: return "SERVFAIL"
        case .nameError: return "NXDOMAIN"
        case .notImplemented: return "NOTIMP"
        case .refused: return "REFUSED"
        case .badVersion: return "BADVERS"
        default: return "RCODE\(rawValue)"
        }
    }
}
