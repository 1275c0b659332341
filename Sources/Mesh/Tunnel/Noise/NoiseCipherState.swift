import Crypto
import Foundation
import NIOCore

/// The CipherState of the Noise spec (§5.1): a ChaCha20-Poly1305 key and a 64-bit nonce.
///
/// Used in order during the handshake (implicit nonce `n`) and with explicit nonces by
/// `NoiseTransport`, whose datagrams may arrive out of order. It is a plain value: copying it
/// copies the key, which is how the handshake and transport commit changes only on success.
public struct NoiseCipherState: Sendable {
    /// Length of a ChaChaPoly key (§5.1, 32 bytes) and of its tag (§4.2, 16 bytes).
    public static let keyLength = 32
    public static let tagLength = 16
    /// The nonce 2^64 - 1 is reserved for REKEY (§4.2) and never used for a message.
    public static let reservedNonce = UInt64.max

    /// `k`, or nil while the key is "empty" (before the first MixKey).
    public private(set) var key: [UInt8]? {
        didSet { symmetricKey = key.map { SymmetricKey(data: $0) } }
    }
    /// `key` as CryptoKit takes it, made once per key rather than once per message. Never
    /// mutated in place (only replaced with `key`), so sharing it across threads is safe.
    nonisolated(unsafe) private var symmetricKey: SymmetricKey?
    /// `n`, the next implicit nonce.
    public private(set) var nonce: UInt64 = 0

    public init(key: [UInt8]? = nil) {
        self.key = key
        self.symmetricKey = key.map { SymmetricKey(data: $0) }
    }

    /// InitializeKey(key) (§5.1): sets the key and resets the nonce.
    public mutating func initializeKey(_ key: [UInt8]?) {
        self.key = key
        self.nonce = 0
    }

    public var hasKey: Bool { key != nil }

    /// EncryptWithAd (§5.1): encrypts under the implicit nonce, or passes the plaintext through
    /// while no key is set.
    public mutating func encrypt(_ plaintext: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        guard let symmetricKey else { return plaintext }
        guard nonce != Self.reservedNonce else { throw NoiseError.nonceExhausted }
        let result = try Self.seal(plaintext, key: symmetricKey, nonce: nonce, associatedData: associatedData)
        nonce += 1
        return result
    }

    /// DecryptWithAd (§5.1): the nonce advances only when the tag verifies.
    public mutating func decrypt(_ ciphertext: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        guard let symmetricKey else { return ciphertext }
        guard nonce != Self.reservedNonce else { throw NoiseError.nonceExhausted }
        let result = try Self.open(ciphertext, key: symmetricKey, nonce: nonce, associatedData: associatedData)
        nonce += 1
        return result
    }

    /// ENCRYPT(k, n, ad, plaintext) with a nonce the caller chose (§11.4 explicit nonces).
    public func encrypt(_ plaintext: [UInt8], nonce: UInt64, associatedData: [UInt8] = []) throws -> [UInt8] {
        guard let symmetricKey else { throw NoiseError.wrongState("cipher state has no key") }
        guard nonce != Self.reservedNonce else { throw NoiseError.nonceExhausted }
        return try Self.seal(plaintext, key: symmetricKey, nonce: nonce, associatedData: associatedData)
    }

    /// DECRYPT(k, n, ad, ciphertext) with a nonce taken from the message.
    public func decrypt(_ ciphertext: [UInt8], nonce: UInt64, associatedData: [UInt8] = []) throws -> [UInt8] {
        guard let symmetricKey else { throw NoiseError.wrongState("cipher state has no key") }
        guard nonce != Self.reservedNonce else {
            throw NoiseError.malformedMessage(reason: "nonce 2^64-1 is reserved for rekeying")
        }
        return try Self.open(ciphertext, key: symmetricKey, nonce: nonce, associatedData: associatedData)
    }

    /// ENCRYPT(k, n, empty, plaintext) with an explicit nonce, the ciphertext and tag appended
    /// to `output`: the transport's per-frame path, without an array per step.
    func encrypt(_ plaintext: UnsafeRawBufferPointer, nonce: UInt64, appendingTo output: inout ByteBuffer) throws {
        guard let symmetricKey else { throw NoiseError.wrongState("cipher state has no key") }
        guard nonce != Self.reservedNonce else { throw NoiseError.nonceExhausted }
        let box = try ChaChaPoly.seal(plaintext, using: symmetricKey, nonce: Self.chachaNonce(nonce))
        output.writeBytes(box.ciphertext)
        output.writeBytes(box.tag)
    }

    /// DECRYPT(k, n, empty, ciphertext and tag) with an explicit nonce, the plaintext appended
    /// to `output` only if the tag verifies.
    func decrypt(_ sealed: UnsafeRawBufferPointer, nonce: UInt64, appendingTo output: inout ByteBuffer) throws {
        guard let symmetricKey else { throw NoiseError.wrongState("cipher state has no key") }
        guard nonce != Self.reservedNonce else {
            throw NoiseError.malformedMessage(reason: "nonce 2^64-1 is reserved for rekeying")
        }
        guard sealed.count >= Self.tagLength else {
            throw NoiseError.malformedMessage(reason: "ciphertext of \(sealed.count) bytes is shorter than the 16-byte tag")
        }
        let split = sealed.count - Self.tagLength
        do {
            let box = try ChaChaPoly.SealedBox(
                nonce: Self.chachaNonce(nonce), ciphertext: UnsafeRawBufferPointer(rebasing: sealed[..<split]),
                tag: UnsafeRawBufferPointer(rebasing: sealed[split...]))
            output.writeBytes(try ChaChaPoly.open(box, using: symmetricKey))
        } catch {
            throw NoiseError.decryptFailed
        }
    }

    /// Rekey() (§5.1) with the default REKEY(k) of §4.2: the first 32 bytes of
    /// ENCRYPT(k, 2^64-1, empty, 32 zero bytes). The nonce is left alone, as the spec says.
    public mutating func rekey() throws {
        guard let symmetricKey else { throw NoiseError.wrongState("cannot rekey a cipher state without a key") }
        let sealed = try Self.seal([UInt8](repeating: 0, count: Self.keyLength),
                                   key: symmetricKey, nonce: Self.reservedNonce, associatedData: [])
        self.key = Array(sealed.prefix(Self.keyLength))
    }

    /// The ChaChaPoly nonce of §12.3: 32 bits of zeros, then the 64-bit counter little-endian.
    static func chachaNonce(_ counter: UInt64) throws -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 {
            bytes[4 + index] = UInt8(truncatingIfNeeded: counter >> UInt64(8 * index))
        }
        return try ChaChaPoly.Nonce(data: bytes)
    }

    static func seal(_ plaintext: [UInt8], key: SymmetricKey, nonce: UInt64, associatedData: [UInt8]) throws -> [UInt8] {
        let box = try ChaChaPoly.seal(plaintext, using: key,
                                      nonce: chachaNonce(nonce), authenticating: associatedData)
        var out = Array(box.ciphertext)
        out.append(contentsOf: box.tag)
        return out
    }

    static func open(_ ciphertext: [UInt8], key: SymmetricKey, nonce: UInt64, associatedData: [UInt8]) throws -> [UInt8] {
        guard ciphertext.count >= tagLength else {
            throw NoiseError.malformedMessage(reason: "ciphertext of \(ciphertext.count) bytes is shorter than the 16-byte tag")
        }
        let split = ciphertext.count - tagLength
        do {
            let box = try ChaChaPoly.SealedBox(nonce: chachaNonce(nonce),
                                               ciphertext: ciphertext[..<split],
                                               tag: ciphertext[split...])
            return Array(try ChaChaPoly.open(box, using: key, authenticating: associatedData))
        } catch {
            throw NoiseError.decryptFailed
        }
    }
}
