/// Why this node refused a peer's handshake. Logged on the refusing side; the refused peer sees
/// silence (for a bad MAC) or a closed connection, never the reason, so a prober learns nothing.
public enum TunnelHandshakeRejection: Error, Equatable, Sendable, CustomStringConvertible {
    /// Message 1's MAC is wrong: the sender lacks the cluster PSK or meant another node's key.
    case badMAC
    /// Message 1's timestamp is outside the replay window (a replay, or a clock that is off).
    case stale(skewSeconds: Int64)
    /// This exact message 1 was already answered.
    case replayed
    /// The peer's static key is not the key bound to the node name it claims.
    case keyNotBound(node: String, presented: [UInt8])
    /// The peer claims to be this node.
    case claimsOurName(String)

    public var description: String {
        switch self {
        case .badMAC:
            "handshake ignored: its MAC does not verify (the sender has a different pre-shared key, or dialed another node's key)"
        case .stale(let skew):
            "handshake ignored: its timestamp is \(skew) s off this node's clock (a replay, or clocks out of sync; run NTP)"
        case .replayed:
            "handshake ignored: this exact initiation was already answered (a replay)"
        case .keyNotBound(let node, let key):
            "handshake refused: the peer says it is node \"\(node)\" but its key \(TunnelPublicKeyText.encode(key)) is not the one bound to that node (annotation \(tunnelPublicKeyAnnotation))"
        case .claimsOurName(let node):
            "handshake refused: the peer claims to be this node (\"\(node)\")"
        }
    }
}
