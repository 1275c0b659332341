import NIOCore
import Testing

@testable import Mesh

/// The multiplexing frames: every frame survives the wire, and no byte sequence from a peer
/// crashes the decoder.
@Suite struct TunnelFrameTests {
    static let target = TunnelTarget(node: "edge-2", address: IPv4Address(10, 0, 1, 7), port: 8080, transport: .udp)

    static let everyKind: [TunnelFrame] = [
        .open(stream: 1, target: target, window: 262_144),
        .accepted(stream: 2, window: 65_536),
        .refused(stream: 3, TunnelStreamFailure(.refused, "connection refused by 10.0.1.7:8080")),
        .data(stream: 5, ByteBuffer(string: "hello")),
        .data(stream: 7, ByteBuffer()),
        .windowUpdate(stream: 9, increment: 4096),
        .finish(stream: 11),
        .reset(stream: 13, TunnelStreamFailure(.reset, "")),
        .ping(nonce: 0xDEAD_BEEF_0000_0001),
        .pong(nonce: 42),
    ]

    static func encoded(_ frame: TunnelFrame) -> ByteBuffer {
        var buffer = ByteBuffer()
        frame.encode(into: &buffer)
        return buffer
    }

    @Test(arguments: everyKind)
    func everyFrameDecodesToWhatWasEncoded(_ frame: TunnelFrame) throws {
        #expect(try TunnelFrame.decode(Self.encoded(frame)) == frame)
    }

    @Test func anOpenFrameKeepsTheWholeTarget() throws {
        let tcp = TunnelTarget(node: "cloud-node-1", address: IPv4Address(192, 168, 3, 4), port: 443, transport: .tcp)
        guard case .open(_, let decoded, _) = try TunnelFrame.decode(Self.encoded(.open(stream: 3, target: tcp, window: 1))) else {
            Issue.record("not an open frame")
            return
        }
        #expect(decoded == tcp)
    }

    @Test func truncatedFramesAreRejectedWithTheirReason() {
        // Every prefix of a fixed-layout frame is refused (data frames have no fixed end).
        for frame in Self.everyKind {
            if case .data = frame { continue }
            let full = Self.encoded(frame)
            for length in 0..<full.readableBytes {
                #expect(throws: TunnelProtocolError.self) {
                    try TunnelFrame.decode(full.getSlice(at: 0, length: length)!)
                }
            }
        }
    }

    @Test func unknownTypesStrayBytesAndEmptyWindowUpdatesAreRejected() {
        #expect(throws: TunnelProtocolError.malformedFrame("unknown frame type 99")) {
            try TunnelFrame.decode(ByteBuffer(bytes: [99, 0, 0, 0, 1]))
        }
        var stray = Self.encoded(.finish(stream: 1))
        stray.writeInteger(UInt8(0))
        #expect(throws: TunnelProtocolError.self) { try TunnelFrame.decode(stray) }
        #expect(throws: TunnelProtocolError.self) {
            try TunnelFrame.decode(ByteBuffer(bytes: [5, 0, 0, 0, 1, 0, 0, 0, 0]))
        }
    }

    /// Found by `scripts/fuzz tunnel-frame`: a node name of bytes that are not UTF-8 decoded
    /// with replacement characters, three bytes each, so the name grew past what a frame can
    /// carry and came back cut short. A peer's name must be UTF-8, or the frame is refused.
    @Test func anOpenFrameWhoseNodeNameIsNotUTF8IsRejected() {
        var frame = ByteBuffer(bytes: [0x01, 0x00, 0x00, 0x05, 0x05])  // open, stream 0x0505
        frame.writeBytes([0x00] + [10, 0, 1, 7] + [0x1F, 0x90] + [0x00, 0x04, 0x00, 0x00])  // TCP, address, port, window
        frame.writeBytes([100] + [UInt8](repeating: 0xFF, count: 100))
        #expect(throws: TunnelProtocolError.self) { try TunnelFrame.decode(frame) }
    }

    /// Found by `scripts/fuzz tunnel-frame` too: a refusal's detail in bytes that are not
    /// UTF-8, or longer than a detail may be, decoded into something the frame cannot carry back.
    @Test(arguments: [[UInt8](repeating: 0xFF, count: 40), [UInt8](repeating: 0x61, count: 513)])
    func aRefusalWhoseDetailIsNotUTF8OrTooLongIsRejected(detail: [UInt8]) {
        var frame = ByteBuffer(bytes: [0x03, 0x00, 0x00, 0x00, 0x07, 0x02])  // refused, stream 7, reason 2
        frame.writeInteger(UInt16(detail.count))
        frame.writeBytes(detail)
        #expect(throws: TunnelProtocolError.self) { try TunnelFrame.decode(frame) }
    }

    /// A long detail is cut on a character, never inside one: what is sent always decodes.
    @Test func aLongDetailIsCutOnACharacterBoundary() throws {
        let detail = String(repeating: "a", count: 511) + "é and more"  // "é" is two bytes, at 511 and 512
        let frame = TunnelFrame.refused(stream: 7, TunnelStreamFailure(.refused, detail))
        var bytes = ByteBuffer()
        frame.encode(into: &bytes)
        guard case .refused(_, let failure) = try TunnelFrame.decode(bytes) else {
            Issue.record("not a refusal")
            return
        }
        #expect(failure.detail == String(repeating: "a", count: 511))
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var random = NoiseTestRandom(seed: 7)
        var decoded = 0
        for _ in 0..<20_000 {
            let length = Int.random(in: 0..<40, using: &random)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            // Bias towards known types so the decoder's inner paths are exercised too.
            if !bytes.isEmpty { bytes[0] = UInt8.random(in: 0...10, using: &random) }
            if (try? TunnelFrame.decode(ByteBuffer(bytes: bytes))) != nil { decoded += 1 }
        }
        #expect(decoded > 0)
    }
}
