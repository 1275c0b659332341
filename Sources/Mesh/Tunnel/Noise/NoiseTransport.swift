import NIOCore

/// The transport phase after a `NoiseHandshake`: seals and opens datagram-friendly frames
///
///     counter (8 bytes, big-endian) || ChaChaPoly ciphertext || 16-byte tag
///
/// The counter is the ChaChaPoly nonce, carried explicitly because datagrams may be lost,
/// duplicated or reordered (Noise spec §11.4); authentication of the ciphertext under that
/// nonce authenticates the counter. A sliding-window replay filter (`NoiseReplayWindow`)
/// accepts each counter once and drops counters older than the window.
///
/// Rekeying (§11.3) happens at fixed counter boundaries: frame `c` is sealed with the key after
/// `c / rekeyInterval` applications of REKEY (§4.2) to the key from Split(). Both sides derive
/// the epoch from the counter itself, so no signalling is needed and a reordered frame from the
/// previous epoch still opens (the receiver keeps the previous epoch's key).
///
/// Not for streams that need ordering or retransmission: that belongs to the layer above.
/// Like the handshake, `open` changes nothing unless the frame authenticates.
public struct NoiseTransport: Sendable {
    public struct Options: Sendable, Equatable {
        /// Messages per key epoch; both peers must agree. The default rekeys every 2^20 frames.
        /// Keep it at least `replayWindow`: only the current and the previous epoch's keys are
        /// kept, so with a shorter interval a late frame two epochs back is refused as too old
        /// even though the window would have admitted it.
        public var rekeyInterval: UInt64
        /// Width of the replay window in frames, a positive multiple of 64 (WireGuard uses 2048).
        public var replayWindow: Int
        /// How many key epochs a received frame may skip ahead of the newest one seen. Each
        /// skipped epoch costs one REKEY before the tag can be checked, so the bound caps the
        /// work a forged frame can cause; a real gap this large means the path was dead for a
        /// long time and a new handshake is due anyway.
        public var maxEpochSkip: UInt64

        public init(rekeyInterval: UInt64 = 1 << 20, replayWindow: Int = 2048, maxEpochSkip: UInt64 = 4) {
            self.rekeyInterval = rekeyInterval
            self.replayWindow = replayWindow
            self.maxEpochSkip = maxEpochSkip
        }
    }

    /// Bytes a frame adds to its plaintext: the counter and the tag.
    public static let frameOverhead = 8 + NoiseCipherState.tagLength

    public let options: Options
    /// The handshake hash `h` (§11.2), equal on both peers: a channel binding.
    public let handshakeHash: [UInt8]
    /// The peer's static public key, authenticated by the handshake.
    public let remoteStaticKey: [UInt8]

    private var sendCipher: NoiseCipherState
    private var sendEpoch: UInt64 = 0
    /// The next counter to send.
    public private(set) var nextSendCounter: UInt64 = 0

    private var receiveCipher: NoiseCipherState
    private var previousReceiveCipher: NoiseCipherState?
    private var receiveEpoch: UInt64 = 0
    private var replay: NoiseReplayWindow

    init(sending: NoiseCipherState, receiving: NoiseCipherState, handshakeHash: [UInt8],
         remoteStaticKey: [UInt8], options: Options) throws {
        guard options.rekeyInterval > 0 else {
            throw NoiseError.wrongState("rekeyInterval must be at least 1 message")
        }
        self.options = options
        self.handshakeHash = handshakeHash
        self.remoteStaticKey = remoteStaticKey
        self.sendCipher = sending
        self.receiveCipher = receiving
        self.replay = try NoiseReplayWindow(size: options.replayWindow)
    }

    /// Seals `plaintext` into the next frame.
    public mutating func seal(_ plaintext: [UInt8]) throws -> [UInt8] {
        var frame = ByteBuffer()
        try plaintext.withUnsafeBytes { try seal($0, appendingTo: &frame) }
        return Array(frame.readableBytesView)
    }

    /// Seals `plaintext` into the next frame, appended to `frame`.
    public mutating func seal(_ plaintext: UnsafeRawBufferPointer, appendingTo frame: inout ByteBuffer) throws {
        let counter = nextSendCounter
        // 2^64-1 is REKEY's nonce (§4.2) and may never carry a message.
        guard counter != NoiseCipherState.reservedNonce else { throw NoiseError.nonceExhausted }
        let epoch = counter / options.rekeyInterval
        var cipher = sendCipher
        // The counter grows by one per frame, so this runs at most once per call.
        for _ in sendEpoch..<epoch { try cipher.rekey() }
        let start = frame.writerIndex
        frame.writeInteger(counter)
        do {
            try cipher.encrypt(plaintext, nonce: counter, appendingTo: &frame)
        } catch {
            frame.moveWriterIndex(to: start)
            throw error
        }
        sendCipher = cipher
        sendEpoch = epoch
        nextSendCounter = counter + 1
    }

    /// Opens a frame from the peer: checks the replay window, then the tag, and only then
    /// records the counter as seen.
    public mutating func open(_ frame: [UInt8]) throws -> [UInt8] {
        var plaintext = ByteBuffer()
        try frame.withUnsafeBytes { try open($0, appendingTo: &plaintext) }
        return Array(plaintext.readableBytesView)
    }

    /// Opens a frame from the peer, its plaintext appended to `plaintext`; nothing is appended
    /// and nothing changes unless it authenticates.
    public mutating func open(_ frame: UnsafeRawBufferPointer, appendingTo plaintext: inout ByteBuffer) throws {
        guard frame.count >= Self.frameOverhead else {
            throw NoiseError.malformedMessage(reason: "a transport frame is at least \(Self.frameOverhead) bytes (counter and tag), got \(frame.count)")
        }
        let counter = UInt64(bigEndian: frame.loadUnaligned(as: UInt64.self))
        guard counter != NoiseCipherState.reservedNonce else {
            throw NoiseError.malformedMessage(reason: "counter 2^64-1 is reserved for rekeying")
        }
        // Cheap checks first, so replays cost no decryption.
        try replay.check(counter)
        let sealed = UnsafeRawBufferPointer(rebasing: frame[8...])
        let epoch = counter / options.rekeyInterval

        if epoch == receiveEpoch {
            try receiveCipher.decrypt(sealed, nonce: counter, appendingTo: &plaintext)
            replay.accept(counter)
            return
        }
        if epoch < receiveEpoch {
            guard epoch == receiveEpoch - 1, let previous = previousReceiveCipher else {
                throw NoiseError.tooOld(counter: counter, highest: replay.highest ?? 0)
            }
            try previous.decrypt(sealed, nonce: counter, appendingTo: &plaintext)
            replay.accept(counter)
            return
        }
        guard epoch - receiveEpoch <= options.maxEpochSkip else {
            throw NoiseError.malformedMessage(reason: "frame \(counter) is \(epoch - receiveEpoch) key epochs ahead; at most \(options.maxEpochSkip) are followed")
        }
        // A newer epoch: derive its key on copies and keep them only if the frame authenticates.
        var previous = receiveCipher
        var current = receiveCipher
        try current.rekey()
        for _ in (receiveEpoch + 1)..<epoch {
            previous = current
            try current.rekey()
        }
        try current.decrypt(sealed, nonce: counter, appendingTo: &plaintext)
        previousReceiveCipher = previous
        receiveCipher = current
        receiveEpoch = epoch
        replay.accept(counter)
    }
}
