@testable import Mesh
import NIOCore
import Testing

/// The relay's control messages and punch signals on the wire: every message survives a round
/// trip, and no byte string from the network crashes the decoders.
@Suite struct RelayMessageTests {
    static let token = RelayToken(bytes: Array(1...16))!
    static let endpoint = NodeEndpoint(address: IPv4Address(198, 51, 100, 7), port: 40123)

    static let messages: [RelayMessage] = [
        .reservationAccepted(observed: endpoint, maxCircuits: 64),
        .reservationRefused(.reservationsFull(limit: 1024)),
        .ping(.max), .pong(0),
        .openCircuit(request: 7, node: "edge-1"),
        .circuitOffer(request: 7, token: token),
        .circuitRefused(request: 7, .noReservation(node: "edge-2")),
        .circuitRefused(request: 8, .circuitLimitReached(node: "edge-1", limit: 64)),
        .circuitRefused(request: 9, .relayOverloaded(limit: 4096)),
        .circuitRefused(request: 10, .peerDidNotAnswer(node: "edge-2")),
        .circuitRefused(request: 11, .targetIsSelf(node: "edge-1")),
        .reservationRefused(.nameBoundToAnotherKey(node: "edge-1")),
        .reservationRefused(.nodeUnknownToCluster(node: "mallory")),
        .reservationRefused(.addressReservationsFull(limit: 64)),
        .incomingCircuit(token: token, from: "edge-1"),
        .signal(request: 3, node: "edge-2", payload: [1, 2, 3]),
        .signalRefused(request: 3, .noReservation(node: "edge-2")),
    ]

    @Test(arguments: messages)
    func everyMessageSurvivesARoundTrip(message: RelayMessage) throws {
        #expect(try RelayMessage(decoding: message.encoded) == message)
    }

    @Test(arguments: messages)
    func everyTruncationIsRejectedNotMisread(message: RelayMessage) {
        let bytes = message.encoded
        for length in 0..<bytes.count {
            #expect(throws: RelayProtocolError.self) { try RelayMessage(decoding: Array(bytes.prefix(length))) }
        }
        #expect(throws: RelayProtocolError.self) { try RelayMessage(decoding: bytes + [0]) }
    }

    @Test func randomBytesNeverCrashTheDecoders() {
        var random = RelayFuzzGenerator(seed: 42)
        var decoded = 0
        for _ in 0..<20_000 {
            let length = Int.random(in: 0..<64, using: &random)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            // Start most inputs with a valid type so the fields, not just the type byte, get fuzzed.
            if !bytes.isEmpty && bytes[0] % 4 != 0 { bytes[0] = bytes[0] % 10 + 1 }
            if (try? RelayMessage(decoding: bytes)) != nil { decoded += 1 }
            _ = PunchSignal(decoding: [0x50] + bytes)
            _ = PunchHello.decode(bytes)
        }
        #expect(decoded > 0, "the fuzzer reaches past the type byte")
    }

    @Test func punchSignalsSurviveARoundTrip() {
        let signals: [PunchSignal] = [
            .request(token: Self.token, mapping: .endpointIndependent, endpoint: Self.endpoint),
            .answer(token: Self.token, mapping: .noNAT, endpoint: Self.endpoint),
            .sync(token: Self.token),
            .decline(token: Self.token, reason: "its NAT maps per destination"),
        ]
        for signal in signals { #expect(PunchSignal(decoding: signal.encoded) == signal) }
    }

    @Test func thePSKGateAcceptsOnlyTheKeyThatMadeIt() {
        let psk = [UInt8](repeating: 9, count: 32), other = [UInt8](repeating: 8, count: 32)
        let message: [UInt8] = Array(0..<32)
        let tag = RelayPresharedGate.tag(for: message, presharedKey: psk)
        #expect(RelayPresharedGate.isValid(tag: tag, for: message, presharedKey: psk))
        #expect(!RelayPresharedGate.isValid(tag: tag, for: message, presharedKey: other))
        #expect(!RelayPresharedGate.isValid(tag: tag, for: message.reversed(), presharedKey: psk))
        #expect(!RelayPresharedGate.isValid(tag: tag.prefix(8), for: message, presharedKey: psk))
    }

    @Test func refusalsTellTheUserWhatToDo() {
        #expect("\(RelayRefusal.noReservation(node: "edge-2"))".contains("check that its agent runs and lists this relay"))
        #expect("\(RelayRefusal.relayOverloaded(limit: 10))".contains("add a relay"))
        #expect("\(RelayError.noRelayReservation(relays: ["203.0.113.10:20008"]))".contains("uses this cluster's PSK"))
    }

    @Test func aPSKFileIsHashedToAKeyAndATrailingNewlineDoesNotMatter() throws {
        let text = Array("correct horse battery staple".utf8)
        #expect(try PresharedKeyFile.key(fromContents: text) == PresharedKeyFile.key(fromContents: text + [0x0A]))
        #expect(try PresharedKeyFile.key(fromContents: text).count == 32)
        #expect(throws: PresharedKeyFileError.tooShort(5)) { try PresharedKeyFile.key(fromContents: Array("short\n".utf8)) }
    }
}

/// A small seeded generator so the fuzz input is the same on every run.
private struct RelayFuzzGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
