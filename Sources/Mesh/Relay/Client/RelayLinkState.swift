/// Where an agent stands with one relay, as `edgemesh status` shows it.
public enum RelayLinkState: Hashable, Sendable, CustomStringConvertible {
    case connecting
    /// The relay holds our reservation and sees us at `observed`.
    case reserved(observed: NodeEndpoint)
    /// Waiting before the next attempt; `lastError` says what went wrong.
    case backingOff(lastError: String)
    case stopped

    public var description: String {
        switch self {
        case .connecting: "connecting"
        case .reserved(let observed): "reserved (observed at \(observed))"
        case .backingOff(let error): "reconnecting after: \(error)"
        case .stopped: "stopped"
        }
    }
}
