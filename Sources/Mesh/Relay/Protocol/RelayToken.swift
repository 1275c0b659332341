/// A one-time secret that ties a data connection to a circuit. The relay hands it out only over
/// an authenticated, encrypted control connection, so presenting it proves the data connection
/// comes from the node the circuit was offered to.
public struct RelayToken: Hashable, Sendable, CustomStringConvertible {
    public static let length = 16

    public let bytes: [UInt8]

    /// `nil` unless `bytes` is exactly `length` long.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.length else { return nil }
        self.bytes = bytes
    }

    public static func random<R: RandomNumberGenerator>(using random: inout R) -> RelayToken {
        RelayToken(bytes: (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &random) })!
    }

    /// Short enough for a log line; not enough to forge the token.
    public var description: String { bytes.prefix(3).map { String($0, radix: 16) }.joined() + "…" }
}
