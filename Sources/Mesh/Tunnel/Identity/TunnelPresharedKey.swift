import Crypto

/// The cluster-wide secret that gates every handshake (EdgeMesh's `psk` file). Any text is
/// accepted and stretched to the 32 bytes Noise needs with SHA-256, so operators can keep the
/// file they already have.
public struct TunnelPresharedKey: Sendable, Equatable {
    public let bytes: [UInt8]

    public init(secret: String) throws(TunnelError) {
        guard !secret.isEmpty else {
            throw .invalidConfiguration("the tunnel pre-shared key is empty; put the same non-empty secret in every node's psk file")
        }
        self.bytes = Array(SHA256.hash(data: Array("edgemesh tunnel psk v1:".utf8) + Array(secret.utf8)))
    }
}
