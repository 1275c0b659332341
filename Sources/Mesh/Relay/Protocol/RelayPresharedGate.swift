import Crypto

/// Proof of the cluster's pre-shared key in the very first message, so a relay can stay silent
/// toward anyone without it.
///
/// Noise_XXpsk3 mixes the PSK in only at the third message; a responder would have to answer the
/// first message before it could tell a stranger from a member. The gate closes that gap: the
/// initiator prefixes message 1 with a MAC over it under the PSK. Message 1 carries a fresh
/// ephemeral key, so a replayed gate at most earns the replayer a message 2 it cannot use.
enum RelayPresharedGate {
    static let tagLength = 16
    private static let label = Array("edgemesh relay gate v1".utf8)

    static func tag(for message: [UInt8], presharedKey: [UInt8]) -> [UInt8] {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: presharedKey))
        mac.update(data: label)
        mac.update(data: message)
        return Array(mac.finalize()).prefix(tagLength).map { $0 }
    }

    /// Compares in time independent of where the first difference is.
    static func isValid(tag: some Collection<UInt8>, for message: [UInt8], presharedKey: [UInt8]) -> Bool {
        let expected = self.tag(for: message, presharedKey: presharedKey)
        guard tag.count == expected.count else { return false }
        return zip(tag, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
