import NIOCore
import NIOHTTP1
import NIOSSL

/// Talks HTTP/1.1 to a Kubernetes API server (or KubeEdge's metaServer) over the host's
/// streams, so it runs unchanged in NetSim and on Linux. One connection per request: lists
/// are rare and a watch holds its connection for its whole life.
///
/// An https endpoint is spoken through NIOSSL with `Options.tls` (the system's trust store when
/// that is nil). Edge mode (the metaServer on 127.0.0.1) is plain http.
public final class KubernetesAPIClient: Sendable {
    public struct Options: Sendable {
        /// Sent as `Authorization: Bearer <token>` when set.
        public var bearerToken: String?
        /// Trust and client identity for an https endpoint; ignored for http.
        public var tls: KubernetesTLSConfiguration?
        public var connectTimeout: TimeAmount
        /// A list response that stalls this long fails.
        public var requestTimeout: TimeAmount
        /// A watch that receives nothing (not even a bookmark) this long is abandoned and resumed.
        public var watchIdleTimeout: TimeAmount

        public init(
            bearerToken: String? = nil, tls: KubernetesTLSConfiguration? = nil, connectTimeout: TimeAmount = .seconds(10),
            requestTimeout: TimeAmount = .seconds(30), watchIdleTimeout: TimeAmount = .seconds(60)
        ) {
            self.bearerToken = bearerToken
            self.tls = tls
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
            self.watchIdleTimeout = watchIdleTimeout
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

    /// The body of `GET <collection>`: a List document.
    public func list(_ resource: KubernetesResource, namespace: String? = nil) -> EventLoopFuture<ByteBuffer> {
        let finished = host.eventLoop.makePromise(of: ByteBuffer.self)
        let handler = KubernetesResponseHandler(finished: finished, idleTimeout: options.requestTimeout, onLine: nil)
        send(uri: endpoint.basePath + resource.path(namespace: namespace), handler: handler)
        return finished.futureResult
    }

    /// `GET <collection>?watch=true&resourceVersion=...&allowWatchBookmarks=true`, handing every
    /// event line to `onLine` on the host's loop.
    public func watch(
        _ resource: KubernetesResource, namespace: String? = nil, resourceVersion: String?,
        onLine: @escaping (ByteBuffer) -> Void
    ) -> Watch {
        var query = "watch=true&allowWatchBookmarks=true"
        if let resourceVersion, !resourceVersion.isEmpty { query += "&resourceVersion=\(resourceVersion)" }
        let finished = host.eventLoop.makePromise(of: ByteBuffer.self)
        let handler = KubernetesResponseHandler(finished: finished, idleTimeout: options.watchIdleTimeout, onLine: onLine)
        let cancel = host.eventLoop.makePromise(of: Void.self)
        let channel = send(uri: endpoint.basePath + resource.path(namespace: namespace) + "?" + query, handler: handler)
        cancel.futureResult.whenSuccess {
            finished.fail(KubernetesAPIError.connectionClosed)
            channel.whenSuccess { $0.close(promise: nil) }
        }
        // Whatever ends the stream also resolves the cancel promise, which nothing else completes.
        finished.futureResult.whenComplete { _ in cancel.succeed() }
        return Watch(finished: finished.futureResult.map { _ in }, cancelPromise: cancel)
    }

    @discardableResult
    private func send(uri: String, handler: KubernetesResponseHandler) -> EventLoopFuture<Channel> {
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
        if let token = options.bearerToken { headers.add(name: "Authorization", value: "Bearer \(token)") }
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: headers)
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
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            handler.finished.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        return connected
    }
}
