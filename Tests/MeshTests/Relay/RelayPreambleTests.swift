@testable import Mesh
import NIOCore
import NIOEmbedded
import Testing

/// The preamble reader that every relay and punch connection starts with: it must hand over
/// exactly its bytes and lose none of what follows, however the stream is cut into reads.
@Suite struct RelayPreambleTests {
    @Test(arguments: [1, 2, 3, 5, 64])
    func bytesAfterThePreambleReachTheNextHandlerInOrder(chunk: Int) throws {
        let channel = EmbeddedChannel()
        var preamble: [UInt8]?
        let collector = PreambleTestCollector()
        try channel.pipeline.syncOperations.addHandler(
            PreambleReader(length: 4, timeout: .seconds(10)) { context, bytes in
                preamble = bytes
                try! context.pipeline.syncOperations.addHandler(collector)
            })
        let stream: [UInt8] = Array("EMRD".utf8) + Array(0..<40)
        for start in stride(from: 0, to: stream.count, by: chunk) {
            try channel.writeInbound(ByteBuffer(bytes: stream[start..<min(start + chunk, stream.count)]))
        }
        #expect(preamble == Array("EMRD".utf8))
        #expect(collector.bytes == Array(0..<40))
        #expect(throws: Error.self) { try channel.pipeline.syncOperations.handler(type: PreambleReader.self) }
        _ = try channel.finish()
    }

    @Test func aShortStreamNeverCallsBack() throws {
        let channel = EmbeddedChannel()
        var called = false
        try channel.pipeline.syncOperations.addHandler(PreambleReader(length: 16, timeout: .seconds(10)) { _, _ in called = true })
        try channel.writeInbound(ByteBuffer(bytes: Array(0..<15)))
        #expect(!called)
        _ = try channel.finish()
    }

    @Test func aPeerThatStopsShortIsClosedAtTheDeadline() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "10.0.0.1", port: 20008)).wait()
        try channel.pipeline.syncOperations.addHandler(PreambleReader(length: 4, timeout: .seconds(10)) { _, _ in })
        try channel.writeInbound(ByteBuffer(bytes: Array("EM".utf8)))
        loop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive, "closed once the preamble is 10 s late")
    }

    @Test func aCompletePreambleCancelsTheDeadline() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "10.0.0.1", port: 20008)).wait()
        try channel.pipeline.syncOperations.addHandler(PreambleReader(length: 4, timeout: .seconds(10)) { _, _ in })
        try channel.writeInbound(ByteBuffer(bytes: Array("EMRC".utf8)))
        loop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
        _ = try channel.finish()
    }
}

final class PreambleTestCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var bytes: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes += unwrapInboundIn(data).readableBytesView
    }
}
