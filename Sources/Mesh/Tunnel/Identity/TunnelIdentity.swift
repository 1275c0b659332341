import NIOCore

/// This node's long-lived tunnel key pair: generated from the host's randomness on first start
/// and kept in the host's durable store, so the public key the cluster binds to the node name
/// stays the same across restarts. (EdgeMesh derived node keys from node names; anyone who knew
/// a name could compute the key. This one is random and never leaves the node.)
public struct TunnelIdentity: Sendable {
    /// The durable store key holding the 32 private-key bytes.
    public static let storeKey = "tunnel-static-key"

    public let keyPair: NoiseKeyPair

    public init(keyPair: NoiseKeyPair) {
        self.keyPair = keyPair
    }

    /// The public key as it appears in the Node annotation.
    public var publicKeyText: String { TunnelPublicKeyText.encode(keyPair.publicKey) }

    /// Loads the stored key pair, or generates and stores one when none exists. A stored value
    /// that is not a key is an error rather than silently replaced: replacing it would change the
    /// node's identity and break every peer's binding.
    public static func loadOrCreate(host: any Host) -> EventLoopFuture<TunnelIdentity> {
        host.store.load(storeKey).flatMap { stored in
            if let stored {
                do {
                    return host.eventLoop.makeSucceededFuture(
                        TunnelIdentity(keyPair: try NoiseKeyPair(privateKey: Array(buffer: stored))))
                } catch {
                    return host.eventLoop.makeFailedFuture(TunnelError.identityUnreadable(
                        "durable store key \"\(storeKey)\" holds \(stored.readableBytes) bytes that are not a tunnel key (\(error)); remove it to generate a new identity, then let peers learn the new key"))
                }
            }
            var random = host.random
            let identity = TunnelIdentity(keyPair: .generate(using: &random))
            host.logger.info("tunnel: generated a new node key", metadata: ["publicKey": "\(identity.publicKeyText)"])
            return host.store.save(storeKey, ByteBuffer(bytes: identity.keyPair.privateKey)).map { identity }
        }
    }
}
