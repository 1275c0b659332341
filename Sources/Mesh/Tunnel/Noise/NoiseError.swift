/// Why a Noise handshake or transport operation was refused.
///
/// Every case is a rejection of input (from the network or from configuration), never a crash:
/// the state machine that threw is left as it was before the call (see `NoiseHandshake` and
/// `NoiseTransport`), so a forged or damaged datagram cannot kill a session.
public enum NoiseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The AEAD tag did not verify: the message was tampered with, or the peer holds other
    /// keys (for example a different pre-shared key).
    case decryptFailed
    /// A transport frame with this counter was already accepted (Noise spec §11.4: the
    /// application must reject replays when nonces are explicit).
    case replayed(counter: UInt64)
    /// A transport frame older than the replay window; it cannot be told apart from a replay.
    case tooOld(counter: UInt64, highest: UInt64)
    /// The call does not fit the handshake's current step (for example reading when it is our
    /// turn to write, or splitting before the third message).
    case wrongState(String)
    /// The bytes cannot be a message of this protocol (too short, too long, reserved counter).
    case malformedMessage(reason: String)
    /// The peer's static key is not the one the caller expected (the `peerKeyValidator` said no).
    case peerKeyRejected(publicKey: [UInt8])
    /// A key given by the caller has the wrong length or is not a valid Curve25519 key.
    case invalidKey(reason: String)
    /// 2^64 - 1 messages were sent with one cipher state; the spec (§5.1) forbids reusing a
    /// nonce, so the session must be replaced by a new handshake.
    case nonceExhausted

    public var description: String {
        switch self {
        case .decryptFailed:
            return "noise: decryption failed (tampered message, or the peer uses a different key or PSK)"
        case .replayed(let counter):
            return "noise: frame \(counter) was already received (replay); dropped"
        case .tooOld(let counter, let highest):
            return "noise: frame \(counter) is older than the replay window (newest is \(highest)); dropped"
        case .wrongState(let detail):
            return "noise: \(detail)"
        case .malformedMessage(let reason):
            return "noise: malformed message: \(reason)"
        case .peerKeyRejected(let key):
            return "noise: peer static key \(key.map { String($0, radix: 16).leftPadded(to: 2) }.joined()) is not the key bound to the node we meant to reach"
        case .invalidKey(let reason):
            return "noise: invalid key: \(reason)"
        case .nonceExhausted:
            return "noise: nonce space exhausted; start a new handshake"
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
