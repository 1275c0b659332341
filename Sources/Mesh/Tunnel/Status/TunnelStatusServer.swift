import NIOCore
import NIOHTTP1

/// The agent's local status endpoint: `GET /tunnel/status` answers the tunnel's
/// `TunnelStatusReport` as JSON. It listens on a loopback address only; `edgemesh status` asks it.
public final class TunnelStatusServer: @unchecked Sendable {
    public static let path = "/tunnel/status"
    public static let defaultPort: UInt16 = 10551

    private let host: any Host
    private let tunnel: MeshTunnel
    private let address: SocketAddress
    private var listener: Channel?

    public init(host: any Host, tunnel: MeshTunnel, address: SocketAddress) {
        self.host = host
        self.tunnel = tunnel
        self.address = address
    }

    public func start() -> EventLoopFuture<Void> {
        let tunnel = self.tunnel
        return host.listenStream(StreamListenOptions(address: address, reuseAddress: true)) { channel in
            channel.pipeline.configureHTTPServerPipeline().flatMap {
                channel.pipeline.addHandler(StatusRequestHandler(tunnel: tunnel))
            }
        }.map { self.listener = $0 }
    }

    /// Where it listens (the port is known once started, when 0 was asked for).
    public var localAddress: SocketAddress? { listener?.localAddress }

    public func stop() -> EventLoopFuture<Void> {
        listener?.close() ?? host.eventLoop.makeSucceededVoidFuture()
    }
}

private final class StatusRequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let tunnel: MeshTunnel
    private var head: HTTPRequestHead?

    init(tunnel: MeshTunnel) {
        self.tunnel = tunnel
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(context: context, to: head)
        }
    }

    private func respond(context: ChannelHandlerContext, to head: HTTPRequestHead) {
        let (status, body): (HTTPResponseStatus, ByteBuffer)
        if head.method == .GET, head.uri == TunnelStatusServer.path, let json = try? tunnel.statusReport.json() {
            (status, body) = (.ok, ByteBuffer(bytes: json))
        } else {
            (status, body) = (.notFound, ByteBuffer(string: "only GET \(TunnelStatusServer.path) is served here\n"))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: status == .ok ? "application/json" : "text/plain")
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
