/// Which static public key belongs to which node: the binding the tunnel checks every handshake
/// against. A handshake is accepted only from the key bound to the node it meant to reach, and
/// a node that names itself as another is refused.
public protocol PeerKeyDirectory: AnyObject, Sendable {
    /// The key bound to `node`, or nil when the cluster has none for it (yet).
    func publicKey(ofNode node: String) -> [UInt8]?
}

/// The Node annotation carrying a node's tunnel public key (base64, as `TunnelPublicKeyText`).
public let tunnelPublicKeyAnnotation = "edgemesh.io/tunnel-public-key"
