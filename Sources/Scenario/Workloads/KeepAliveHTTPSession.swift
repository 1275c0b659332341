import Mesh
import NIOCore
import NIOHTTP1

/// An HTTP/1.1 client that keeps one connection open across requests, as browsers and
/// `requests.Session` do: each GET goes on the open connection (opened on first use, and again
/// after the server closes it), and responses are matched to requests in order. Each request
/// carries `X-Client-Key: key-<index mod 8>`, so a proxy balancing on that header per request
/// spreads one connection's requests over the backends.
final class KeepAliveHTTPSession: @unchecked Sendable {
    /// The header a scenario's DestinationRule hashes on to balance this client's requests.
    static let keyHeader = "X-Client-Key"
    static let keyCount = 8

    private let host: any Host
    private var connection: EventLoopFuture<Channel>?

    init(host: any Host) {
        self.host = host
    }

    /// Sends request `index`; succeeds with the body of a 200 response. Confined to the host's loop.
    func get(_ index: Int, address: IPv4Address, port: UInt16, authority: String, path: String = "/") -> EventLoopFuture<String> {
        let response = host.eventLoop.makePromise(of: String.self)
        connect(to: address, port: port).whenComplete { result in
            switch result {
            case .failure(let error): response.fail(error)
            case .success(let channel):
                let queue = try? channel.pipeline.syncOperations.handler(type: HTTPResponseQueue.self)
                queue?.expect(response)
                channel.sendGET(authority: authority, path: path, headers: [(Self.keyHeader, "key-\(index % Self.keyCount)")])
            }
        }
        return response.futureResult
    }

    private func connect(to address: IPv4Address, port: UInt16) -> EventLoopFuture<Channel> {
        if let connection { return connection }
        let opened = host.connectStream(StreamConnectOptions(remote: address.socketAddress(port: port))) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                try channel.pipeline.syncOperations.addHandler(HTTPResponseQueue())
            }
        }
        connection = opened
        opened.whenComplete { result in
            switch result {
            case .failure: self.connection = nil
            case .success(let channel): channel.closeFuture.whenComplete { _ in self.connection = nil }
            }
        }
        return opened
    }
}

/// Hands each response on a keep-alive connection to the request it answers, in order; the
/// ones still waiting fail when the connection ends.
final class HTTPResponseQueue: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    private var waiting: [EventLoopPromise<String>] = []
    private var status: HTTPResponseStatus?
    private var body = ""

    func expect(_ response: EventLoopPromise<String>) {
        waiting.append(response)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
            body = ""
        case .body(let buffer):
            body += String(buffer: buffer)
        case .end:
            guard !waiting.isEmpty else { return }
            let response = waiting.removeFirst()
            if status == .ok {
                response.succeed(body)
            } else {
                response.fail(ExchangeError("HTTP status \(status.map { String($0.code) } ?? "none")"))
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let failed = waiting
        waiting = []
        for response in failed { response.fail(ExchangeError("connection closed before the response")) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
