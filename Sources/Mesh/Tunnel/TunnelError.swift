/// Why the tunnel could not carry a stream, in words a user can act on. This is what the
/// proxy's callers (and `edgemesh status`) see.
public enum TunnelError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The cluster binds no tunnel key to the node, so no handshake with it can be trusted.
    case noKnownKey(node: String)
    /// Every path to the node failed; each entry says which path and why.
    case noPath(node: String, attempts: [String])
    /// A connection was made but the handshake did not complete.
    case handshakeFailed(node: String, reason: String)
    /// The far agent answered that it could not reach the stream's target.
    case targetUnreachable(TunnelTarget, TunnelStreamFailure)
    /// The far end reset the stream after it was open.
    case streamReset(TunnelStreamFailure)
    /// The secure connection carrying the stream went away.
    case connectionLost(node: String, reason: String)
    /// The durable store holds something that is not this node's key.
    case identityUnreadable(String)
    case invalidConfiguration(String)
    /// The tunnel was used before `start()` completed, or after `stop()`.
    case notRunning
    /// Not one of the addresses to listen on could be listened on.
    case listenFailed(String)

    public var description: String {
        switch self {
        case .noKnownKey(let node):
            "no tunnel key is known for node \"\(node)\": its Node object lacks the \(tunnelPublicKeyAnnotation) annotation (is the edgemesh agent running there with the tunnel enabled?)"
        case .noPath(let node, let attempts):
            "no path to node \"\(node)\": " + (attempts.isEmpty ? "no address or relay is known for it" : attempts.joined(separator: "; "))
        case .handshakeFailed(let node, let reason):
            "tunnel handshake with node \"\(node)\" failed: \(reason)"
        case .targetUnreachable(let target, let failure):
            "\(target) could not be reached: \(failure)"
        case .streamReset(let failure):
            "tunnel stream reset by the far agent: \(failure)"
        case .connectionLost(let node, let reason):
            "tunnel connection to node \"\(node)\" lost: \(reason)"
        case .identityUnreadable(let detail):
            "tunnel identity unreadable: \(detail)"
        case .invalidConfiguration(let detail):
            "invalid tunnel configuration: \(detail)"
        case .notRunning:
            "the tunnel is not running (start the agent's tunnel first)"
        case .listenFailed(let detail):
            "the tunnel cannot listen: \(detail)"
        }
    }
}
