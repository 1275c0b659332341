import Crypto

/// The SymmetricState of the Noise spec (§5.2) for SHA-256: the chaining key `ck`, the
/// handshake hash `h` and the CipherState they key.
///
/// A value type, so a handshake can try a message on a copy and keep it only when every step
/// succeeded.
public struct NoiseSymmetricState: Sendable {
    /// HASHLEN for SHA-256 (§12.4).
    public static let hashLength = 32

    public private(set) var cipher = NoiseCipherState()
    /// `ck`
    public private(set) var chainingKey: [UInt8]
    /// `h`: after the handshake, the channel binding value of §11.2.
    public private(set) var handshakeHash: [UInt8]

    /// InitializeSymmetric(protocol_name) (§5.2): a name of at most HASHLEN bytes is zero-padded,
    /// a longer one is hashed.
    public init(protocolName: String) {
        let name = Array(protocolName.utf8)
        if name.count <= Self.hashLength {
            handshakeHash = name + [UInt8](repeating: 0, count: Self.hashLength - name.count)
        } else {
            handshakeHash = Self.hash(name)
        }
        chainingKey = handshakeHash
    }

    /// MixKey(input_key_material) (§5.2).
    public mutating func mixKey(_ inputKeyMaterial: [UInt8]) {
        let (newChainingKey, tempKey, _) = Self.hkdf(chainingKey: chainingKey, inputKeyMaterial: inputKeyMaterial)
        chainingKey = newChainingKey
        // HASHLEN equals the 32-byte key length, so no truncation is needed (§5.2).
        cipher.initializeKey(tempKey)
    }

    /// MixHash(data) (§5.2): h = HASH(h || data).
    public mutating func mixHash(_ data: [UInt8]) {
        handshakeHash = Self.hash(handshakeHash + data)
    }

    /// MixKeyAndHash(input_key_material) (§5.2), used by the `psk` token.
    public mutating func mixKeyAndHash(_ inputKeyMaterial: [UInt8]) {
        let (newChainingKey, tempH, tempKey) = Self.hkdf(chainingKey: chainingKey, inputKeyMaterial: inputKeyMaterial)
        chainingKey = newChainingKey
        mixHash(tempH)
        cipher.initializeKey(tempKey)
    }

    /// EncryptAndHash(plaintext) (§5.2): the ciphertext is authenticated with `h` as the
    /// associated data and then mixed into `h`.
    public mutating func encryptAndHash(_ plaintext: [UInt8]) throws -> [UInt8] {
        let ciphertext = try cipher.encrypt(plaintext, associatedData: handshakeHash)
        mixHash(ciphertext)
        return ciphertext
    }

    /// DecryptAndHash(ciphertext) (§5.2).
    public mutating func decryptAndHash(_ ciphertext: [UInt8]) throws -> [UInt8] {
        let plaintext = try cipher.decrypt(ciphertext, associatedData: handshakeHash)
        mixHash(ciphertext)
        return plaintext
    }

    /// Split() (§5.2): the two transport cipher states, initiator-to-responder first.
    /// With a `label`, a second pair of keys independent of the first (HKDF of the chaining key
    /// with the label as input key material), for a second transport of the same session that
    /// must never share a key, and so a nonce, with the first.
    public func split(label: [UInt8] = []) -> (NoiseCipherState, NoiseCipherState) {
        let (first, second, _) = Self.hkdf(chainingKey: chainingKey, inputKeyMaterial: label)
        return (NoiseCipherState(key: first), NoiseCipherState(key: second))
    }

    /// HKDF(chaining_key, input_key_material, 3) of §4.3, built from HMAC-SHA256 as the spec
    /// defines it (it is RFC 5869 with the chaining key as salt and an empty info).
    public static func hkdf(chainingKey: [UInt8], inputKeyMaterial: [UInt8]) -> ([UInt8], [UInt8], [UInt8]) {
        let tempKey = hmac(key: chainingKey, data: inputKeyMaterial)
        let output1 = hmac(key: tempKey, data: [0x01])
        let output2 = hmac(key: tempKey, data: output1 + [0x02])
        let output3 = hmac(key: tempKey, data: output2 + [0x03])
        return (output1, output2, output3)
    }

    /// HMAC-HASH(key, data) with SHA-256 (§4.3, RFC 2104).
    public static func hmac(key: [UInt8], data: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key)))
    }

    /// HASH(data) (§4.3).
    public static func hash(_ data: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: data))
    }
}
