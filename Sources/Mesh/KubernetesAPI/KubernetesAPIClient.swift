import NIOCore
import NIOHTTP1
import NIOSSL

/// Talks HTTP/1.1 to a Kubernetes API server (or KubeEdge's metaServer) over the host's
/// streams, so it runs unchanged in NetSim and on Linux. One connection per request: lists
/// are rare and a watch holds its connection for its whole life. Every request (list, watch
/// start, patch) first takes a token from the client's `KubernetesRateLimiter`.
///
/// An https endpoint is spoken through NIOSSL with `Options.tls` (the system's trust store when
/// that is nil). Edge mode (the metaServer on 127.0.0.1) is plain http.
public final class KubernetesAPIClient: Sendable {
    public struct Options: Sendable {
        /// Sent as `Authorization: Bearer <token>` when set.
        public var bearerToken: String?
        /// Asked for the token before each request, when set: a token the platform re-reads as
        /// it rotates (projected service-account tokens expire within hours). Wins over
        /// `bearerToken`; nil from it falls back to `bearerToken`.
        public var bearerTokenSource: (@Sendable () -> String?)?
        /// Trust and client identity for an https endpoint; ignored for http.
        public var tls: KubernetesTLSConfiguration?
        public var connectTimeout: TimeAmount
        /// A list response that stalls this long fails.
        public var requestTimeout: TimeAmount
        /// A watch that receives nothing (not even a bookmark) this long is abandoned and resumed.
        public var watchIdleTimeout: TimeAmount
        /// `kubeAPIConfig.qps` and `burst`: how fast requests may start.
        public var rateLimit: KubernetesRateLimiter.Limit

        public init(
            bearerToken: String? = nil, tls: KubernetesTLSConfiguration? = nil, connectTimeout: TimeAmount = .seconds(10),
            requestTimeout: TimeAmount = .seconds(30), watchIdleTimeout: TimeAmount = .seconds(60),
            rateLimit: KubernetesRateLimiter.Limit = .edgeMeshDefault
        ) {
            self.bearerToken = bearerToken
            self.tls = tls
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
            self.watchIdleTimeout = watchIdleTimeout
            self.rateLimit = rateLimit
        }
    }

    /// An open (or opening) watch: `finished` completes when the stream ends, failing with the
    /// reason unless the server closed it cleanly.
    public struct Watch: Sendable {
        public let finished: EventLoopFuture<Void>
        private let cancelPromise: EventLoopPromise<Void>

        init(finished: EventLoopFuture<Void>, cancelPromise: EventLoopPromise<Void>) {
            self.finished = finished
            self.cancelPromise = cancelPromise
        }

        /// Closes the stream; `finished` then completes.
        public func cancel() { cancelPromise.succeed() }
    }

    public let host: any Host
    public let endpoint: KubernetesAPIEndpoint
    public let options: Options
    /// Shared by every request of this client, as client-go shares one per REST client.
    public let rateLimiter: KubernetesRateLimiter
    private let resolver: NameResolver
    /// Built once for an https endpoint (nil for http); a failure is reported by every request.
    private let tlsContext: Result<NIOSSLContext, KubernetesTLSError>?

    /// `resolver` turns the endpoint's host name into an address; by default only IPv4
    /// literals and `localhost` resolve.
    public init(
        host: any Host, endpoint: KubernetesAPIEndpoint, options: Options = Options(),
        resolver: @escaping NameResolver = { $0 == "localhost" ? .loopback : IPv4Address($0) }
    ) {
        self.host = host
        self.endpoint = endpoint
        self.options = options
        self.resolver = resolver
        self.rateLimiter = KubernetesRateLimiter(limit: options.rateLimit)
        if endpoint.scheme == .https {
            let tls = options.tls ?? KubernetesTLSConfiguration()
            self.tlsContext = Result { () throws(KubernetesTLSError) in try tls.makeContext() }
        } else {
            self.tlsContext = nil
        }
    }

    /// The name sent in SNI and checked against the server's certificate: the configured server
    /// name, else the endpoint's host unless it is an IP literal (then the certificate's IP
    /// addresses are checked against the peer's).
    private var tlsServerName: String? {
        if let name = options.tls?.serverName { return name }
        return IPv4Address(endpoint.host) == nil ? endpoint.host : nil
    }

    /// `fieldSelector=` with the selector percent-encoded (`=` and `/` included).
    static func fieldSelectorParameter(_ selector: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var encoded: [UInt8] = Array("fieldSelector=".utf8)
        for byte in selector.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: ","):
                encoded.append(byte)
            default:
                encoded += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    /// The body of `GET <collection>`: a List document; with `fieldSelector` (`type=...`) only
    /// the objects the server finds it matches.
    public func list(_ resource: KubernetesResource, namespace: String? = nil, fieldSelector: String? = nil) -> EventLoopFuture<ByteBuffer> {
        let finished = host.eventLoop.makePromise(of: ByteBuffer.self)
        let handler = KubernetesResponseHandler(finished: finished, idleTimeout: options.requestTimeout, onLine: nil)
        let query = fieldSelector.map { "?" + Self.fieldSelectorParameter($0) } ?? ""
        send(Request(method: .GET, uri: endpoint.basePath + resource.path(namespace: namespace) + query), handler: handler)
        return finished.futureResult
    }

    /// `PATCH <object>` with `patch` as the body: the object as the server stored it, or a
    /// `KubernetesPatchError` saying what was refused and what to do about it.
    public func patch(
        _ resource: KubernetesResource, name: String, namespace: String? = nil, patch: [UInt8],
        type: KubernetesPatchType = .merge
    ) -> EventLoopFuture<ByteBuffer> {
        let finished = host.eventLoop.makePromise(of: ByteBuffer.self)
        let handler = KubernetesResponseHandler(finished: finished, idleTimeout: options.requestTimeout, onLine: nil)
        let uri = endpoint.basePath + resource.objectPath(name: name, namespace: namespace)
        send(Request(method: .PATCH, uri: uri, body: patch, contentType: type.contentType), handler: handler)
        return finished.futureResult.flatMapErrorThrowing { error in
            throw KubernetesPatchError(error, resource: resource, name: name)
        }
    }

    /// `GET <collection>?watch=true&resourceVersion=...&allowWatchBookmarks=true`, handing every
    /// event line to `onLine` on the host's loop.
    public func watch(
        _ resource: KubernetesResource, namespace: String? = nil, fieldSelector: String? = nil, resourceVersion: String?,
        onLine: @escaping (ByteBuffer) -> Void
    ) -> Watch {
        var query = "watch=true&allowWatchBookmarks=true"
        if let resourceVersion, !resourceVersion.isEmpty { query += "&resourceVersion=\(resourceVersion)" }
        if let fieldSelector { query += "&" + Self.fieldSelectorParameter(fieldSelector) }
        let finished = host.eventLoop.makePromise(of: ByteBuffer.self)
        let handler = KubernetesResponseHandler(finished: finished, idleTimeout: options.watchIdleTimeout, onLine: onLine)
        let cancel = host.eventLoop.makePromise(of: Void.self)
        let channel = send(Request(method: .GET, uri: endpoint.basePath + resource.path(namespace: namespace) + "?" + query), handler: handler)
        cancel.futureResult.whenSuccess {
            finished.fail(KubernetesAPIError.connectionClosed)
            channel.whenSuccess { $0.close(promise: nil) }
        }
        // Whatever ends the stream also resolves the cancel promise, which nothing else completes.
        finished.futureResult.whenComplete { _ in cancel.succeed() }
        return Watch(finished: finished.futureResult.map { _ in }, cancelPromise: cancel)
    }

    private struct Request {
        var method: HTTPMethod
        var uri: String
        var body: [UInt8]? = nil
        var contentType: String? = nil
    }

    /// Sends `request` once the rate limiter allows; a request abandoned while it waits (a
    /// cancelled watch) is never sent.
    @discardableResult
    private func send(_ request: Request, handler: KubernetesResponseHandler) -> EventLoopFuture<Channel> {
        let wait = rateLimiter.reserve(now: host.now)
        guard wait > .zero else { return connect(request, handler: handler) }
        let loop = host.eventLoop
        let abandoned = NIOLoopBoundBox(false, eventLoop: loop)
        handler.finished.futureResult.whenComplete { _ in abandoned.value = true }
        return loop.scheduleTask(in: wait) {}.futureResult.flatMap { [self] in
            guard !abandoned.value else { return host.eventLoop.makeFailedFuture(KubernetesAPIError.connectionClosed) }
            return connect(request, handler: handler)
        }
    }

    private func connect(_ request: Request, handler: KubernetesResponseHandler) -> EventLoopFuture<Channel> {
        let loop = host.eventLoop
        let sslContext: NIOSSLContext?
        switch tlsContext {
        case nil: sslContext = nil
        case .success(let context)?: sslContext = context
        case .failure(let error)?:
            handler.finished.fail(KubernetesAPIError.tlsConfiguration(error))
            return loop.makeFailedFuture(KubernetesAPIError.tlsConfiguration(error))
        }
        guard let address = resolver(endpoint.host) else {
            handler.finished.fail(KubernetesAPIError.unresolvableHost(endpoint.host))
            return loop.makeFailedFuture(KubernetesAPIError.unresolvableHost(endpoint.host))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "User-Agent", value: "edgemesh-swift")
        if let token = options.bearerTokenSource?() ?? options.bearerToken {
            headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        if let body = request.body {
            headers.add(name: "Content-Type", value: request.contentType ?? "application/json")
            headers.add(name: "Content-Length", value: String(body.count))
        }
        let head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.uri, headers: headers)
        let connectOptions = StreamConnectOptions(remote: address.socketAddress(port: endpoint.port), connectTimeout: options.connectTimeout)
        let serverName = tlsServerName
        let connected = host.connectStream(connectOptions) { channel in
            do {
                if let sslContext {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                }
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                try channel.pipeline.syncOperations.addHandler(handler)
                return channel.eventLoop.makeSucceededVoidFuture()
            } catch {
                return channel.eventLoop.makeFailedFuture(KubernetesAPIError.describingTLS(error))
            }
        }
        connected.whenFailure { handler.finished.fail($0) }
        connected.whenSuccess { channel in
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if let body = request.body {
                channel.write(HTTPClientRequestPart.body(.byteBuffer(channel.allocator.buffer(bytes: body))), promise: nil)
            }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            handler.finished.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        return connected
    }
}
