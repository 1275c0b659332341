import Testing

@testable import Mesh

/// The pieces of node identity that need no network: key text, the PSK gate on handshake
/// message 1, and the replay filter.
@Suite struct TunnelIdentityTests {
    static func key(_ seed: UInt64) -> NoiseKeyPair {
        var random = NoiseTestRandom(seed: seed)
        return NoiseKeyPair.generate(using: &random)
    }

    static let psk = try! TunnelPresharedKey(secret: "cluster secret")
    static let responder = key(1)
    static let message1 = Array(repeating: UInt8(7), count: 32)

    @Test func publicKeysRoundTripThroughTheirAnnotationText() {
        for seed in 1...50 {
            let key = Self.key(UInt64(seed)).publicKey
            let text = TunnelPublicKeyText.encode(key)
            #expect(text.count == 44)
            #expect(TunnelPublicKeyText.decode(text) == key)
        }
        #expect(TunnelPublicKeyText.encode([UInt8](repeating: 0, count: 32)) == "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    }

    @Test func annotationTextThatIsNotAKeyIsRefused() {
        #expect(TunnelPublicKeyText.decode("") == nil)
        #expect(TunnelPublicKeyText.decode("not a key") == nil)
        #expect(TunnelPublicKeyText.decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") == nil)  // no padding
        #expect(TunnelPublicKeyText.decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*=") == nil)
        #expect(TunnelPublicKeyText.decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=") == nil)  // stray low bits
    }

    @Test func anEmptyPresharedKeyIsAConfigurationError() {
        #expect(throws: TunnelError.self) { try TunnelPresharedKey(secret: "") }
    }

    @Test func theGateAdmitsAnInitiationSealedWithTheSamePSKForThisNode() throws {
        let gate = HandshakeInitiationGate(presharedKey: Self.psk, responderStaticKey: Self.responder.publicKey)
        let body = gate.seal(message1: Self.message1, timestamp: 1_700_000_000_000_000_000)
        let opened = try gate.open(body)
        #expect(opened.message1 == Self.message1)
        #expect(opened.timestamp == 1_700_000_000_000_000_000)
    }

    @Test func theGateRefusesAWrongPSKAnotherNodesKeyAndAnyFlippedBit() throws {
        let gate = HandshakeInitiationGate(presharedKey: Self.psk, responderStaticKey: Self.responder.publicKey)
        let wrongPSK = HandshakeInitiationGate(presharedKey: try TunnelPresharedKey(secret: "other secret"),
                                               responderStaticKey: Self.responder.publicKey)
        let otherNode = HandshakeInitiationGate(presharedKey: Self.psk, responderStaticKey: Self.key(2).publicKey)
        #expect(throws: TunnelHandshakeRejection.badMAC) { try gate.open(wrongPSK.seal(message1: Self.message1, timestamp: 5)) }
        #expect(throws: TunnelHandshakeRejection.badMAC) { try gate.open(otherNode.seal(message1: Self.message1, timestamp: 5)) }
        let body = gate.seal(message1: Self.message1, timestamp: 5)
        for index in body.indices {
            var tampered = body
            tampered[index] ^= 0x01
            #expect(throws: TunnelHandshakeRejection.badMAC) { try gate.open(tampered) }
        }
        #expect(throws: TunnelHandshakeRejection.badMAC) { try gate.open([]) }
        #expect(throws: TunnelHandshakeRejection.badMAC) { try gate.open(Array(body.prefix(24))) }
    }

    @Test func theReplayFilterAnswersEachInitiationOnceWithinItsWindow() throws {
        let second: Int64 = 1_000_000_000
        var filter = HandshakeReplayFilter(window: 120 * second, capacity: 16)
        try filter.admit(timestamp: 1000 * second, mac: [1], now: 1000 * second)
        #expect(throws: TunnelHandshakeRejection.replayed) {
            try filter.admit(timestamp: 1000 * second, mac: [1], now: 1010 * second)
        }
        // A different initiation at the same moment is fine.
        try filter.admit(timestamp: 1000 * second, mac: [2], now: 1010 * second)
        // Once out of the window the old message is refused by its age, not remembered.
        #expect(throws: TunnelHandshakeRejection.stale(skewSeconds: 121)) {
            try filter.admit(timestamp: 1000 * second, mac: [1], now: 1121 * second)
        }
        // A clock far ahead of ours is refused too.
        #expect(throws: TunnelHandshakeRejection.stale(skewSeconds: -300)) {
            try filter.admit(timestamp: 1421 * second, mac: [3], now: 1121 * second)
        }
    }

    /// A timestamp is the peer's to choose: one at the far end of Int64 is refused as stale, by
    /// how far it is, instead of overflowing the subtraction and killing the agent.
    @Test(arguments: [Int64.min, Int64.max, Int64.min + 1, -1])
    func theReplayFilterRefusesExtremeTimestampsWithoutTrapping(_ timestamp: Int64) throws {
        let second: Int64 = 1_000_000_000
        var filter = HandshakeReplayFilter(window: 120 * second, capacity: 16)
        let now = 1_800_000_000 * second
        #expect(throws: TunnelHandshakeRejection.self) { try filter.admit(timestamp: timestamp, mac: [9], now: now) }
        // And the filter still works afterwards.
        try filter.admit(timestamp: now, mac: [1], now: now)
    }

    @Test func clockSkewIsMeasuredWithoutOverflow() {
        #expect(ClockSkew.isWithin(5, of: 10, 14))
        #expect(!ClockSkew.isWithin(5, of: 10, 16))
        #expect(!ClockSkew.isWithin(Int64.max, of: Int64.min, Int64.max))
        #expect(ClockSkew.isWithin(0, of: Int64.min, Int64.min))
        #expect(ClockSkew.seconds(from: Int64.max, to: Int64.min) == Int64.min / 1_000_000_000)
        #expect(ClockSkew.seconds(from: 0, to: 3_000_000_000) == 3)
    }

    @Test func theReplayFilterStaysWithinItsCapacity() throws {
        var filter = HandshakeReplayFilter(window: 1_000_000, capacity: 8)
        for index in 0..<1000 { try filter.admit(timestamp: 10, mac: [UInt8(index % 256), UInt8(index / 256)], now: 10) }
        // The most recent ones are still remembered.
        #expect(throws: TunnelHandshakeRejection.replayed) { try filter.admit(timestamp: 10, mac: [UInt8(999 % 256), 3], now: 10) }
    }
}
