import NIOCore
import NIOHTTP2

/// An HTTP/2 connection (clear text, prior knowledge) to one backend of a service whose port
/// speaks it (gRPC): each request of the client connection that chose this backend goes out as
/// a stream of its own, so requests are balanced one by one while each backend keeps one
/// connection, as Envoy keeps its upstream gRPC connections.
///
/// The connection is read continuously (its frames serve every stream); each stream is read
/// when the balancer wants more, held back by HTTP/2 flow control. At most 100 streams are
/// open at once (the backend's own `SETTINGS_MAX_CONCURRENT_STREAMS` may say fewer).
final class BackendHTTP2Session: @unchecked Sendable {
    let backend: ServiceBackend
    /// The connection to the backend.
    let channel: Channel
    private let multiplexer: NIOHTTP2Handler.StreamMultiplexer

    private init(backend: ServiceBackend, channel: Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer) {
        self.backend = backend
        self.channel = channel
        self.multiplexer = multiplexer
    }

    /// Speaks HTTP/2 on a freshly dialled `channel`.
    static func start(on channel: Channel, backend: ServiceBackend) throws -> BackendHTTP2Session {
        let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
        ) { stream in
            // The backend opens no streams of its own (no server push): refuse any.
            stream.close()
        }
        try channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        return BackendHTTP2Session(backend: backend, channel: channel, multiplexer: multiplexer)
    }

    /// A new stream for one request, with the balancer's connection handler on it.
    func openStream(for balancer: HTTPRequestBalancer) -> EventLoopFuture<BackendHTTPConnection> {
        let backend = self.backend
        let connection = channel.eventLoop.makePromise(of: BackendHTTPConnection.self)
        multiplexer.createStreamChannel(promise: nil) { stream in
            stream.setOption(ChannelOptions.autoRead, value: false).flatMapThrowing {
                try BackendHTTPConnection.install(onStream: stream, backend: backend, balancer: balancer)
            }.map { connection.succeed($0) }.flatMapErrorThrowing { error in
                connection.fail(error)
                throw error
            }
        }
        return connection.futureResult
    }

    func close() {
        channel.close(promise: nil)
    }
}

/// The HTTP/2 backend connections of one client connection, by backend: shared by the
/// balancers of all its streams when the client speaks HTTP/2, so a hundred streams to a gRPC
/// service use one connection per backend, not a hundred, even when they all arrive before
/// the first connection is up (the dials under way are known, and later streams wait for
/// them). Closed with the client connection.
final class BackendHTTP2Sessions: @unchecked Sendable {
    private var sessions: [ServiceBackend: BackendHTTP2Session] = [:]
    /// Dials under way, at most one per backend of the service.
    private var dials: [ServiceBackend: EventLoopFuture<Channel>] = [:]

    /// The dial under way to `backend`, if any.
    func dial(to backend: ServiceBackend) -> EventLoopFuture<Channel>? {
        dials[backend]
    }

    /// A stream started dialling `backend`: streams that choose it meanwhile wait for this dial.
    func noteDial(_ dial: EventLoopFuture<Channel>, to backend: ServiceBackend) {
        dials[backend] = dial
        dial.whenComplete { _ in
            if self.dials[backend] === dial { self.dials[backend] = nil }
        }
    }

    subscript(backend: ServiceBackend) -> BackendHTTP2Session? {
        get { sessions[backend] }
        set {
            if let old = sessions[backend], old !== newValue { old.close() }
            sessions[backend] = newValue
        }
    }

    func closeAll() {
        for backend in sessions.keys.sorted() { sessions[backend]?.close() }
        sessions = [:]
        dials = [:]
    }
}
