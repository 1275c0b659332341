/// The REP field of a SOCKS5 reply (RFC 1928 §6).
public enum Socks5ReplyCode: UInt8, Error, Sendable, CaseIterable, CustomStringConvertible {
    case succeeded = 0x00
    case generalFailure = 0x01
    case notAllowedByRuleset = 0x02
    case networkUnreachable = 0x03
    case hostUnreachable = 0x04
    case connectionRefused = 0x05
    case ttlExpired = 0x06
    case commandNotSupported = 0x07
    case addressTypeNotSupported = 0x08

    public var description: String {
        switch self {
        case .succeeded: "succeeded"
        case .generalFailure: "general failure"
        case .notAllowedByRuleset: "not allowed"
        case .networkUnreachable: "network unreachable"
        case .hostUnreachable: "host unreachable"
        case .connectionRefused: "connection refused"
        case .ttlExpired: "timed out"
        case .commandNotSupported: "command not supported"
        case .addressTypeNotSupported: "address type not supported"
        }
    }
}
