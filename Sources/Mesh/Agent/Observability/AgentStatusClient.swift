import NIOCore
import NIOHTTP1

/// The client side of the agent's local pages (`GET /status`, what `edgemesh status` asks, and
/// `GET /table`): one request on a stream connected to the agent's local endpoint, its body
/// handed back when the status is 200.
///
/// It takes a connected channel rather than a host, so the command line dials it with a plain
/// socket and needs neither a store nor interception. Every method runs on the channel's loop.
public enum AgentStatusClient {
    /// The most bytes of a page accepted: a status page is a few kilobytes even with many peers;
    /// a table listing grows with the cluster.
    public static let maximumBodyBytes = 4 << 20

    /// Sends `GET path` (`/status`, `/table`) with `Host: authority` over `channel` and closes
    /// it once answered.
    /// Fails when the connection ends before a full response, the status is not 200, the body
    /// is larger than `maximumBodyBytes`, or no full answer came within `timeout`.
    public static func fetchPage(
        _ path: String, over channel: Channel, authority: String, timeout: TimeAmount = .seconds(10)
    ) -> EventLoopFuture<String> {
        let response = channel.eventLoop.makePromise(of: String.self)
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            response.fail(AgentStatusError("no answer within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        channel.eventLoop.execute {
            do {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                try channel.pipeline.syncOperations.addHandler(StatusResponseHandler(response: response))
            } catch {
                response.fail(error)
                return
            }
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: authority)
            headers.add(name: "Connection", value: "close")
            channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        response.futureResult.whenComplete { _ in
            deadline.cancel()
            channel.close(promise: nil)
        }
        return response.futureResult
    }
}

/// Why `edgemesh status` got no status.
public struct AgentStatusError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Gathers the one response of a status request.
final class StatusResponseHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    private let response: EventLoopPromise<String>
    private var status: HTTPResponseStatus?
    private var body: ByteBuffer?

    init(response: EventLoopPromise<String>) {
        self.response = response
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
        case .body(var part):
            if body == nil { body = part } else { body!.writeBuffer(&part) }
            if body!.readableBytes > AgentStatusClient.maximumBodyBytes {
                response.fail(AgentStatusError("the status is larger than \(AgentStatusClient.maximumBodyBytes) bytes"))
                context.close(promise: nil)
            }
        case .end:
            guard status == .ok else {
                response.fail(AgentStatusError("the agent answered HTTP \(status.map { String($0.code) } ?? "nothing")"))
                return
            }
            response.succeed(body.map { String(buffer: $0) } ?? "")
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        response.fail(AgentStatusError("the connection closed before a full answer"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        response.fail(error)
        context.close(promise: nil)
    }
}
