/// The Noise_XXpsk3_25519_ChaChaPoly_SHA256 handshake (Noise spec rev. 34, §7.5 pattern XX with
/// the psk3 modifier of §9.2) as a value-type state machine: bytes in, bytes out, no I/O.
///
///     -> e
///     <- e, ee, s, es
///     -> s, se, psk
///
/// XX lets each side learn the other's static key inside the handshake (encrypted), so a node
/// needs no prior knowledge of its peer's key; `peerKeyValidator` then decides whether that key
/// is the one bound to the node the caller meant to reach. The psk3 modifier gates completion
/// on the cluster's pre-shared key.
///
/// Every `writeMessage`/`readMessage` is all-or-nothing: on a thrown error the state is as it was
/// before the call, so a forged or damaged datagram cannot wreck a handshake in progress; the
/// caller decides whether to wait for a genuine message or to give up. It is not a transport:
/// after the third message, `split()` hands over a `NoiseTransport`.
public struct NoiseHandshake: Sendable {
    public enum Role: Sendable, Equatable {
        case initiator
        case responder
    }

    /// Decides whether a peer's 32-byte static public key is acceptable.
    public typealias PeerKeyValidator = @Sendable ([UInt8]) -> Bool

    public static let protocolName = "Noise_XXpsk3_25519_ChaChaPoly_SHA256"
    /// Noise messages are at most 65535 bytes (§3).
    public static let maxMessageLength = 65535
    /// The number of messages in XX.
    public static let messageCount = 3

    public let role: Role
    private var symmetric: NoiseSymmetricState
    private let localStatic: NoiseKeyPair
    private let localEphemeral: NoiseKeyPair
    private let presharedKey: [UInt8]
    private let peerKeyValidator: PeerKeyValidator
    private var remoteEphemeral: [UInt8]?
    /// The peer's static public key, known once it has been decrypted and accepted.
    public private(set) var remoteStaticKey: [UInt8]?
    /// How many of the three messages have been written or read.
    public private(set) var messagesProcessed = 0

    /// Starts a handshake; the ephemeral key is drawn from `random` now, so the generator is not
    /// kept and a seeded generator reproduces the whole handshake.
    public init<R: RandomNumberGenerator>(
        role: Role,
        staticKey: NoiseKeyPair,
        presharedKey: [UInt8],
        prologue: [UInt8] = [],
        random: inout R,
        peerKeyValidator: @escaping PeerKeyValidator
    ) throws {
        try self.init(role: role, staticKey: staticKey, ephemeralKey: .generate(using: &random),
                      presharedKey: presharedKey, prologue: prologue, peerKeyValidator: peerKeyValidator)
    }

    /// Starts a handshake with a given ephemeral key. Reusing an ephemeral key across handshakes
    /// breaks forward secrecy: this exists for the specification's test vectors and for callers
    /// that draw the key themselves.
    public init(
        role: Role,
        staticKey: NoiseKeyPair,
        ephemeralKey: NoiseKeyPair,
        presharedKey: [UInt8],
        prologue: [UInt8] = [],
        peerKeyValidator: @escaping PeerKeyValidator
    ) throws {
        guard presharedKey.count == 32 else {
            throw NoiseError.invalidKey(reason: "the pre-shared key must be 32 bytes (Noise spec §9.2), got \(presharedKey.count)")
        }
        self.role = role
        self.localStatic = staticKey
        self.localEphemeral = ephemeralKey
        self.presharedKey = presharedKey
        self.peerKeyValidator = peerKeyValidator
        // Initialize() (§5.3): XX has no pre-messages, so only the prologue is mixed in.
        var symmetric = NoiseSymmetricState(protocolName: Self.protocolName)
        symmetric.mixHash(prologue)
        self.symmetric = symmetric
    }

    /// True once all three messages have gone through; then `split()` may be called.
    public var isComplete: Bool { messagesProcessed == Self.messageCount }

    /// True when the next step is ours to write.
    public var isOurTurnToWrite: Bool {
        guard !isComplete else { return false }
        // The initiator writes messages 0 and 2, the responder message 1.
        return (messagesProcessed % 2 == 0) == (role == .initiator)
    }

    /// The handshake hash `h` (§11.2): equal on both sides after a successful handshake, usable
    /// as a channel binding.
    public var handshakeHash: [UInt8] { symmetric.handshakeHash }

    /// Our static public key, as the peer will see it.
    public var localStaticKey: [UInt8] { localStatic.publicKey }

    /// WriteMessage(payload) (§5.3): the next handshake message, carrying `payload`.
    ///
    /// The payload of message 0 is encrypted only under keys derived from public ephemeral
    /// values (anyone can read it), of message 1 under keys the responder's static key went
    /// into, and of message 2 under keys that also need the PSK (§7.7 payload security).
    public mutating func writeMessage(payload: [UInt8]) throws -> [UInt8] {
        guard !isComplete else { throw NoiseError.wrongState("the handshake is complete; call split()") }
        guard isOurTurnToWrite else {
            throw NoiseError.wrongState("message \(messagesProcessed + 1) of the handshake must be read, not written")
        }
        var next = self
        var message: [UInt8] = []
        switch messagesProcessed {
        case 0:
            // -> e
            next.writeEphemeral(into: &message)
        case 1:
            // <- e, ee, s, es
            next.writeEphemeral(into: &message)
            next.symmetric.mixKey(try next.localEphemeral.diffieHellman(with: next.remoteEphemeralKey()))
            message += try next.symmetric.encryptAndHash(next.localStatic.publicKey)
            next.symmetric.mixKey(try next.localStatic.diffieHellman(with: next.remoteEphemeralKey()))
        default:
            // -> s, se, psk
            message += try next.symmetric.encryptAndHash(next.localStatic.publicKey)
            next.symmetric.mixKey(try next.localStatic.diffieHellman(with: next.remoteEphemeralKey()))
            next.symmetric.mixKeyAndHash(next.presharedKey)
        }
        message += try next.symmetric.encryptAndHash(payload)
        guard message.count <= Self.maxMessageLength else {
            throw NoiseError.malformedMessage(reason: "a handshake message may be at most \(Self.maxMessageLength) bytes; the payload of \(payload.count) bytes makes it \(message.count)")
        }
        next.messagesProcessed += 1
        self = next
        return message
    }

    /// ReadMessage(message) (§5.3): processes the peer's next handshake message and returns its
    /// decrypted payload.
    public mutating func readMessage(_ message: [UInt8]) throws -> [UInt8] {
        guard !isComplete else { throw NoiseError.wrongState("the handshake is complete; call split()") }
        guard !isOurTurnToWrite else {
            throw NoiseError.wrongState("message \(messagesProcessed + 1) of the handshake must be written, not read")
        }
        guard message.count <= Self.maxMessageLength else {
            throw NoiseError.malformedMessage(reason: "a handshake message may be at most \(Self.maxMessageLength) bytes, got \(message.count)")
        }
        var next = self
        var reader = MessageReader(bytes: message, messageNumber: messagesProcessed + 1)
        switch messagesProcessed {
        case 0:
            // -> e
            try next.readEphemeral(from: &reader)
        case 1:
            // <- e, ee, s, es
            try next.readEphemeral(from: &reader)
            next.symmetric.mixKey(try next.localEphemeral.diffieHellman(with: next.remoteEphemeralKey()))
            try next.readStatic(from: &reader)
            next.symmetric.mixKey(try next.localEphemeral.diffieHellman(with: next.remoteStaticKeyOrThrow()))
        default:
            // -> s, se, psk
            try next.readStatic(from: &reader)
            next.symmetric.mixKey(try next.localEphemeral.diffieHellman(with: next.remoteStaticKeyOrThrow()))
            next.symmetric.mixKeyAndHash(next.presharedKey)
        }
        let payload = try next.symmetric.decryptAndHash(reader.remainder())
        next.messagesProcessed += 1
        self = next
        return payload
    }

    /// Split() (§5.3) into the transport: the initiator sends with the first cipher state, the
    /// responder with the second. A non-empty `label` derives a second transport whose keys are
    /// independent of the unlabelled one's (see `NoiseSymmetricState.split(label:)`).
    public func split(label: [UInt8] = [], options: NoiseTransport.Options = .init()) throws -> NoiseTransport {
        guard isComplete, let remoteStaticKey else {
            throw NoiseError.wrongState("split() needs all \(Self.messageCount) handshake messages; \(messagesProcessed) done")
        }
        let (initiatorToResponder, responderToInitiator) = symmetric.split(label: label)
        let (sending, receiving) = role == .initiator
            ? (initiatorToResponder, responderToInitiator)
            : (responderToInitiator, initiatorToResponder)
        return try NoiseTransport(sending: sending, receiving: receiving, handshakeHash: symmetric.handshakeHash,
                                  remoteStaticKey: remoteStaticKey, options: options)
    }

    // MARK: tokens

    /// The `e` token when writing (§5.3), with the extra MixKey(e.public_key) that any pattern
    /// with a psk modifier requires (§9.2).
    private mutating func writeEphemeral(into message: inout [UInt8]) {
        message += localEphemeral.publicKey
        symmetric.mixHash(localEphemeral.publicKey)
        symmetric.mixKey(localEphemeral.publicKey)
    }

    private mutating func readEphemeral(from reader: inout MessageReader) throws {
        let key = try reader.take(NoiseKeyPair.keyLength, what: "ephemeral public key")
        remoteEphemeral = key
        symmetric.mixHash(key)
        symmetric.mixKey(key)
    }

    /// The `s` token when reading: the peer's static key arrives encrypted (32 bytes + tag); the
    /// validator runs as soon as it is known, before any further DH uses it.
    private mutating func readStatic(from reader: inout MessageReader) throws {
        let length = NoiseKeyPair.keyLength + (symmetric.cipher.hasKey ? NoiseCipherState.tagLength : 0)
        let encrypted = try reader.take(length, what: "encrypted static public key")
        let key = try symmetric.decryptAndHash(encrypted)
        guard peerKeyValidator(key) else { throw NoiseError.peerKeyRejected(publicKey: key) }
        remoteStaticKey = key
    }

    private func remoteEphemeralKey() throws -> [UInt8] {
        guard let remoteEphemeral else { throw NoiseError.wrongState("the peer's ephemeral key is not known yet") }
        return remoteEphemeral
    }

    private func remoteStaticKeyOrThrow() throws -> [UInt8] {
        guard let remoteStaticKey else { throw NoiseError.wrongState("the peer's static key is not known yet") }
        return remoteStaticKey
    }
}

/// Consumes a handshake message front to back, turning a short message into a typed error.
private struct MessageReader {
    let bytes: [UInt8]
    let messageNumber: Int
    var offset = 0

    mutating func take(_ count: Int, what: String) throws -> [UInt8] {
        guard bytes.count - offset >= count else {
            throw NoiseError.malformedMessage(reason: "handshake message \(messageNumber) of \(bytes.count) bytes ends before its \(what) (\(count) bytes at offset \(offset))")
        }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    func remainder() -> [UInt8] {
        Array(bytes[offset...])
    }
}
