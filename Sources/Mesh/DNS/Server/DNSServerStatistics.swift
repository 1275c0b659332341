/// What a `DNSServer` has done since it started, for status output and metrics.
public struct DNSServerStatistics: Hashable, Sendable {
    /// Messages received over UDP and TCP, well-formed or not.
    public var queries: UInt64 = 0
    /// Messages that did not decode (each answered FORMERR when its header was readable).
    public var malformed: UInt64 = 0
    /// Messages dropped without an answer: unreadable headers and messages with QR set.
    public var dropped: UInt64 = 0
    /// UDP responses sent with TC set because they did not fit.
    public var truncated: UInt64 = 0
    /// TCP connections closed because the client sent nothing for `tcpIdleTimeout`.
    public var tcpIdleCloses: UInt64 = 0
    /// TCP connections refused because `maximumTCPConnections` were open.
    public var tcpConnectionsRefused: UInt64 = 0
    /// Responses sent, by response code.
    public private(set) var responsesByCode: [UInt16: UInt64] = [:]

    public init() {}

    public mutating func recordResponse(_ code: DNSResponseCode) {
        responsesByCode[code.rawValue, default: 0] += 1
    }

    public func responses(with code: DNSResponseCode) -> UInt64 {
        responsesByCode[code.rawValue] ?? 0
    }

    /// The per-code counts in code order, for output that must not depend on hash order.
    public var sortedResponseCounts: [(code: DNSResponseCode, count: UInt64)] {
        responsesByCode.keys.sorted().map { (DNSResponseCode(rawValue: $0), responsesByCode[$0]!) }
    }
}
