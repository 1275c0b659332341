/// The 4-bit OPCODE of a message header.
public struct DNSOpcode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// Only the low 4 bits are sent.
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue & 0x0F
    }

    public static let query = DNSOpcode(rawValue: 0)
    public static let inverseQuery = DNSOpcode(rawValue: 1)
    public static let status = DNSOpcode(rawValue: 2)
    public static let notify = DNSOpcode(rawValue: 4)
    public static let update = DNSOpcode(rawValue: 5)

    public var description: String {
        switch self {
        case .query: return "QUERY"
        case .inverseQuery: return "IQUERY"
        case .status: return "STATUS"
        case .notify: return "NOTIFY"
        case .update: return "UPDATE"
        default: return "OPCODE\(rawValue)"
        }
    }
}
