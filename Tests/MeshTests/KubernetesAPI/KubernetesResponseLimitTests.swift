@testable import Mesh
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// A list or patch response is collected whole before it is decoded: a broken or hostile
/// server must not be able to make the agent hold an unbounded body.
@Suite struct KubernetesResponseLimitTests {
    /// A connected channel with a response handler limited to 1,000 body bytes, and where its
    /// outcome lands.
    static func handler() throws -> (EmbeddedChannel, () -> Result<ByteBuffer, Error>?) {
        let channel = EmbeddedChannel()
        let finished = channel.eventLoop.makePromise(of: ByteBuffer.self)
        nonisolated(unsafe) var outcome: Result<ByteBuffer, Error>?
        finished.futureResult.whenComplete { outcome = $0 }
        try channel.pipeline.syncOperations.addHandler(
            KubernetesResponseHandler(finished: finished, idleTimeout: .seconds(30), maximumBodyLength: 1_000, onLine: nil))
        try channel.connect(to: SocketAddress(ipAddress: "10.0.0.1", port: 6443)).wait()
        return (channel, { outcome })
    }

    @Test(arguments: [HTTPResponseStatus.ok, .forbidden])
    func aBodyPastTheLimitFailsTheRequestAndClosesTheConnection(_ status: HTTPResponseStatus) throws {
        let (channel, outcome) = try Self.handler()
        try channel.writeInbound(HTTPClientResponsePart.head(HTTPResponseHead(version: .http1_1, status: status)))
        for _ in 0..<3 { try channel.writeInbound(HTTPClientResponsePart.body(ByteBuffer(repeating: 0x20, count: 400))) }
        guard case .failure(KubernetesAPIError.bodyTooLarge(let bytes)) = outcome() else {
            Issue.record("expected bodyTooLarge, got \(String(describing: outcome()))")
            return
        }
        #expect(bytes == 1_000)
        #expect(!channel.isActive)
    }

    @Test func aBodyWithinTheLimitIsDelivered() throws {
        let (channel, outcome) = try Self.handler()
        try channel.writeInbound(HTTPClientResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok)))
        try channel.writeInbound(HTTPClientResponsePart.body(ByteBuffer(string: "{\"items\":[]}")))
        try channel.writeInbound(HTTPClientResponsePart.end(nil))
        #expect(try outcome()?.get() == ByteBuffer(string: "{\"items\":[]}"))
    }
}
