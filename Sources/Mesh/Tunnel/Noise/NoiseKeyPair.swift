import Crypto

/// A Curve25519 key pair for the Noise handshake: a node's long-lived static identity, or a
/// handshake's ephemeral key.
///
/// Keys are made only from bytes the caller supplies (a `RandomNumberGenerator` or a stored
/// private key), never from swift-crypto's own randomness, so a simulation that seeds the
/// host's generator replays the same keys. Bytes are kept rather than swift-crypto key objects
/// so the pair is `Sendable` and can be written to the host's durable store as is.
public struct NoiseKeyPair: Sendable {
    /// Length of a Curve25519 private or public key (Noise spec §12.1, DHLEN = 32).
    public static let keyLength = 32

    /// The 32 private-key bytes, as X25519 takes them (clamping happens inside the DH).
    public let privateKey: [UInt8]
    /// The 32-byte public key that goes on the wire and into the cluster's key binding.
    public let publicKey: [UInt8]

    /// Rebuilds a key pair from stored private-key bytes.
    public init(privateKey: [UInt8]) throws {
        guard privateKey.count == Self.keyLength else {
            throw NoiseError.invalidKey(reason: "a Curve25519 private key is 32 bytes, got \(privateKey.count)")
        }
        let key: Curve25519.KeyAgreement.PrivateKey
        do {
            key = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: privateKey)
        } catch {
            throw NoiseError.invalidKey(reason: "swift-crypto refused the private key: \(error)")
        }
        self.privateKey = privateKey
        self.publicKey = Array(key.publicKey.rawRepresentation)
    }

    /// Generates a key pair from `random`, so the host (seeded in NetSim) decides the key.
    public static func generate<R: RandomNumberGenerator>(using random: inout R) -> NoiseKeyPair {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(keyLength)
        for _ in 0..<(keyLength / 8) {
            let word = random.next()
            for shift in stride(from: 0, to: 64, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
            }
        }
        // Any 32 bytes are a valid X25519 private key (RFC 7748 §5 clamps them), so this
        // cannot fail; `try!` would hide a real bug, hence the explicit message.
        do {
            return try NoiseKeyPair(privateKey: bytes)
        } catch {
            preconditionFailure("32 random bytes were refused as an X25519 private key: \(error)")
        }
    }

    /// DH(key pair, public key) of Noise spec §4.1: the X25519 shared secret.
    ///
    /// A peer key that yields the all-zero secret (a low-order point) is refused by swift-crypto;
    /// the spec (§12.1) allows either outcome, and refusing is the safer one.
    func diffieHellman(with peerPublicKey: [UInt8]) throws -> [UInt8] {
        do {
            let mine = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: privateKey)
            let theirs = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: peerPublicKey)
            let secret = try mine.sharedSecretFromKeyAgreement(with: theirs)
            return secret.withUnsafeBytes { Array($0) }
        } catch {
            throw NoiseError.malformedMessage(reason: "peer public key is unusable for X25519 (\(error))")
        }
    }
}
