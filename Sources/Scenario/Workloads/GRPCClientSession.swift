import Mesh
import NIOCore
import NIOHTTP1
import NIOHTTP2

/// A gRPC client as a channel in an application makes its calls: one HTTP/2 connection in
/// clear text, opened on the first call (and again after it ends), each unary call a stream
/// of its own on it. A call succeeds with the text of the answer's message when the answer
/// carries `grpc-status: 0`. Confined to the host's loop.
public final class GRPCClientSession: @unchecked Sendable {
    private let host: any Host
    private var connection: EventLoopFuture<(Channel, NIOHTTP2Handler.StreamMultiplexer)>?

    public init(host: any Host) {
        self.host = host
    }

    /// Calls `path` (`/package.Service/Method`) at `address:port` with one message, `request`.
    public func call(
        _ path: String, request: String, address: IPv4Address, port: UInt16, authority: String, note: RequestSocketNote? = nil
    ) -> EventLoopFuture<String> {
        let answer = host.eventLoop.makePromise(of: GRPCAnswer.self)
        connect(to: address, port: port).whenComplete { result in
            switch result {
            case .failure(let error): answer.fail(error)
            case .success(let (channel, multiplexer)):
                note?.note(channel)
                multiplexer.createStreamChannel(promise: nil) { stream in
                    stream.eventLoop.makeCompletedFuture {
                        try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .http))
                        try stream.pipeline.syncOperations.addHandler(GRPCAnswerReader(answer: answer))
                        let headers = HTTPHeaders([("Host", authority), ("content-type", "application/grpc"), ("te", "trailers")])
                        stream.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http2, method: .POST, uri: path, headers: headers)), promise: nil)
                        stream.write(HTTPClientRequestPart.body(.byteBuffer(GRPCServerWorkload.message(request))), promise: nil)
                        stream.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                    }
                }
            }
        }
        return answer.futureResult.flatMapThrowing { answer in
            guard answer.status == .ok else { throw ExchangeError("HTTP status \(answer.status.code)") }
            guard answer.grpcStatus == "0" else {
                throw ExchangeError("grpc-status \(answer.grpcStatus ?? "missing")\(answer.grpcMessage.map { ": \($0)" } ?? "")")
            }
            guard let text = GRPCServerWorkload.firstMessage(in: answer.body) else { throw ExchangeError("no message in the answer") }
            return text
        }
    }

    /// Closes the connection, if one is open.
    public func close() {
        connection?.whenSuccess { $0.0.close(promise: nil) }
    }

    private func connect(to address: IPv4Address, port: UInt16) -> EventLoopFuture<(Channel, NIOHTTP2Handler.StreamMultiplexer)> {
        if let connection { return connection }
        let multiplexer = host.eventLoop.makePromise(of: NIOHTTP2Handler.StreamMultiplexer.self)
        let opened = host.connectStream(StreamConnectOptions(remote: address.socketAddress(port: port))) { channel in
            channel.eventLoop.makeCompletedFuture {
                multiplexer.succeed(
                    try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
                    ) { $0.eventLoop.makeSucceededVoidFuture() })
            }
        }
        opened.whenFailure { multiplexer.fail($0) }
        let connection = opened.and(multiplexer.futureResult)
        self.connection = connection
        connection.whenComplete { result in
            switch result {
            case .failure: self.connection = nil
            case .success(let (channel, _)): channel.closeFuture.whenComplete { _ in self.connection = nil }
            }
        }
        return connection
    }
}

/// One call's answer: its status, body and gRPC status (from the trailers, or the head of a
/// trailers-only answer).
struct GRPCAnswer: Sendable {
    var status: HTTPResponseStatus = .ok
    var body = ByteBuffer()
    var grpcStatus: String?
    var grpcMessage: String?
}

/// Collects one stream's answer; fails it when the stream ends first.
final class GRPCAnswerReader: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    private let answer: EventLoopPromise<GRPCAnswer>
    private var collected = GRPCAnswer()
    private var done = false

    init(answer: EventLoopPromise<GRPCAnswer>) {
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            collected.status = head.status
            note(head.headers)
        case .body(var buffer):
            collected.body.writeBuffer(&buffer)
        case .end(let trailers):
            if let trailers { note(trailers) }
            done = true
            answer.succeed(collected)
            context.close(promise: nil)
        }
    }

    private func note(_ headers: HTTPHeaders) {
        if let status = headers.first(name: "grpc-status") { collected.grpcStatus = status }
        if let message = headers.first(name: "grpc-message") { collected.grpcMessage = message }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done { answer.fail(ExchangeError("the stream ended before the answer")) }
        done = true
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !done { answer.fail(error) }
        done = true
        context.close(promise: nil)
    }
}
