/// A peer on a relay connection broke the protocol. The connection that carried it is closed;
/// nothing else is affected.
public enum RelayProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    case malformed(String)
    /// A frame longer than the protocol allows (a corrupt length, or not our protocol at all).
    case frameTooLong(Int)
    /// The handshake did not complete (wrong PSK, wrong key, or not a relay at all).
    case handshakeFailed(String)
    /// A message that makes no sense in the connection's state.
    case unexpected(String)

    public var description: String {
        switch self {
        case .malformed(let what): "relay protocol: malformed message: \(what)"
        case .frameTooLong(let length): "relay protocol: frame of \(length) bytes exceeds the limit"
        case .handshakeFailed(let why): "relay protocol: handshake failed: \(why)"
        case .unexpected(let what): "relay protocol: unexpected \(what)"
        }
    }
}
