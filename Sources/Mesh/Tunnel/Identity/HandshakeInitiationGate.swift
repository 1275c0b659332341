import Crypto

/// Guards handshake message 1 the way WireGuard's mac1 does, so that a node without the
/// cluster's pre-shared key gets no answer at all and an old message 1 cannot be replayed.
///
///     initiation body = timestamp (8, ns since the epoch) | Noise message 1 | mac (16)
///     mac = HMAC-SHA256(HMAC-SHA256(psk, "edgemesh mac1" | responder static key), timestamp | message 1)
///
/// Keying the MAC with the responder's static key as well means the initiator must also know
/// whom it is talking to. The responder checks the MAC before any Noise work or any reply, then
/// the timestamp's age, then whether it saw this exact message before (`HandshakeReplayFilter`).
///
/// Noise's psk3 modifier alone mixes the PSK in only at message 3, after the responder has
/// answered message 1; this gate closes that gap.
public struct HandshakeInitiationGate: Sendable {
    public static let macLength = 16
    public static let timestampLength = 8

    private let macKey: [UInt8]

    /// A gate for initiations addressed to the holder of `responderStaticKey`.
    public init(presharedKey: TunnelPresharedKey, responderStaticKey: [UInt8]) {
        let key = SymmetricKey(data: presharedKey.bytes)
        self.macKey = Array(HMAC<SHA256>.authenticationCode(for: Array("edgemesh mac1".utf8) + responderStaticKey, using: key))
    }

    /// The initiation body for `message1`, stamped with the initiator's wall clock.
    public func seal(message1: [UInt8], timestamp: Int64) -> [UInt8] {
        var body = Self.bytes(of: timestamp)
        body += message1
        body += mac(body)
        return body
    }

    /// Checks an initiation body and returns its timestamp and Noise message 1.
    public func open(_ body: [UInt8]) throws(TunnelHandshakeRejection) -> (timestamp: Int64, message1: [UInt8]) {
        guard body.count > Self.timestampLength + Self.macLength else { throw .badMAC }
        let signed = Array(body[..<(body.count - Self.macLength)])
        let expected = mac(signed)
        // Constant time: the position of the first wrong byte must not leak.
        var difference: UInt8 = 0
        for (index, byte) in body[(body.count - Self.macLength)...].enumerated() { difference |= byte ^ expected[index] }
        guard difference == 0 else { throw .badMAC }
        var timestamp: Int64 = 0
        for byte in signed[..<Self.timestampLength] { timestamp = timestamp << 8 | Int64(byte) }
        return (timestamp, Array(signed[Self.timestampLength...]))
    }

    private func mac(_ data: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: macKey)).prefix(Self.macLength))
    }

    private static func bytes(of value: Int64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> Int64(56 - 8 * $0)) }
    }
}
