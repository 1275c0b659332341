/// A record CLASS or QCLASS; any numeric value is kept.
public struct DNSClass: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    public static let internet = DNSClass(rawValue: 1)
    public static let chaos = DNSClass(rawValue: 3)
    public static let hesiod = DNSClass(rawValue: 4)
    public static let none = DNSClass(rawValue: 254)
    /// QCLASS "*".
    public static let any = DNSClass(rawValue: 255)

    public var description: String {
        switch self {
        case .internet: return "IN"
        case .chaos: return "CH"
        case .hesiod: return "HS"
        case .none: return "NONE"
        case .any: return "ANY"
        default: return "CLASS\(rawValue)"
        }
    }
}
