/// A peer sent something this protocol does not allow. The connection it came on is closed
/// (its streams fail with `TunnelError.connectionLost`); the agent itself carries on.
public enum TunnelProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A record's length prefix is larger than a record may be.
    case recordTooLarge(length: Int, limit: Int)
    /// A record does not start with a known record type, or comes at the wrong time.
    case unexpectedRecord(String)
    /// A decrypted frame is not a valid multiplexing frame.
    case malformedFrame(String)
    /// A frame refers to a stream in a way its state does not allow (for example data beyond
    /// the window the receiver granted).
    case streamViolation(String)

    public var description: String {
        switch self {
        case .recordTooLarge(let length, let limit):
            "tunnel protocol: a record of \(length) bytes exceeds the \(limit)-byte limit (peer is not an edgemesh tunnel, or a different version)"
        case .unexpectedRecord(let detail): "tunnel protocol: \(detail)"
        case .malformedFrame(let detail): "tunnel protocol: malformed frame: \(detail)"
        case .streamViolation(let detail): "tunnel protocol: \(detail)"
        }
    }
}
