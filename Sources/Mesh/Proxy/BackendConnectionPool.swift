import NIOCore

/// Kept-alive HTTP/1.1 connections to backends that no client connection is using, so a new
/// client connection, or a new stream of an HTTP/2 client, sends its request on a warm
/// connection instead of dialling one (nginx's upstream `keepalive`, Envoy's connection pool).
///
/// - Limits: at most `Limits.perBackend` idle connections to one backend and `Limits.total` in
///   all; a connection released past either is closed. Each idles at most `Limits.idleTimeout`.
///   A client can therefore make the proxy hold no more idle connections than these, however
///   many it opens and drops.
/// - An idle connection keeps a read pending: the backend closing it, or sending anything
///   unasked, takes it out of the pool and closes it.
/// - The most recently released connection is taken first, so under a steady load the same few
///   stay warm and the rest reach their idle timeout.
///
/// Confined to the proxy's event loop.
final class BackendConnectionPool: @unchecked Sendable {
    struct Limits: Sendable {
        var perBackend: Int
        var total: Int
        var idleTimeout: TimeAmount

        init(perBackend: Int = 256, total: Int = 1024, idleTimeout: TimeAmount = .seconds(60)) {
            self.perBackend = max(0, perBackend)
            self.total = max(0, total)
            self.idleTimeout = idleTimeout
        }
    }

    private struct Idle {
        let connection: BackendHTTPConnection
        let expiry: Scheduled<Void>
    }

    let limits: Limits
    private let eventLoop: EventLoop
    private var idle: [ServiceBackend: [Idle]] = [:]
    private(set) var count = 0

    init(eventLoop: EventLoop, limits: Limits) {
        self.eventLoop = eventLoop
        self.limits = limits
    }

    /// An open idle connection to `backend`, now the caller's (its `balancer` is for the caller to
    /// set), or nil.
    func take(_ backend: ServiceBackend) -> BackendHTTPConnection? {
        while let last = idle[backend]?.popLast() {
            count -= 1
            if idle[backend]?.isEmpty == true { idle[backend] = nil }
            last.expiry.cancel()
            last.connection.pool = nil
            if last.connection.channel.isActive {
                return last.connection
            }
            last.connection.close()
        }
        return nil
    }

    /// Keeps `connection`, which has just carried a whole exchange and has a read pending, for
    /// the next request to its backend; closes it when the pool is full.
    func release(_ connection: BackendHTTPConnection) {
        connection.balancer = nil
        guard connection.channel.isActive, !connection.isStream, count < limits.total,
            idle[connection.backend, default: []].count < limits.perBackend
        else {
            connection.close()
            return
        }
        let expiry = eventLoop.scheduleTask(in: limits.idleTimeout) { [weak self, weak connection] in
            guard let self, let connection else { return }
            self.discard(connection)
        }
        connection.pool = self
        idle[connection.backend, default: []].append(Idle(connection: connection, expiry: expiry))
        count += 1
    }

    /// Takes an idle connection out of the pool and closes it: it closed, sent something
    /// unasked, or idled too long.
    func discard(_ connection: BackendHTTPConnection) {
        connection.pool = nil
        if var list = idle[connection.backend], let index = list.firstIndex(where: { $0.connection === connection }) {
            list.remove(at: index).expiry.cancel()
            idle[connection.backend] = list.isEmpty ? nil : list
            count -= 1
        }
        connection.close()
    }

    func closeAll() {
        for backend in idle.keys.sorted() {
            for entry in idle[backend] ?? [] {
                entry.expiry.cancel()
                entry.connection.pool = nil
                entry.connection.close()
            }
        }
        idle = [:]
        count = 0
    }
}
