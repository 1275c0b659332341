import NIOCore

/// A backend connection made (or reused) for one proxied stream or request.
struct ConnectedBackend {
    let channel: Channel
    let choice: BackendChoice
    /// The selector that counts this stream or request as load on the backend.
    let selector: BackendSelector
}

/// What a caller of `connectStream` already has toward a chosen backend.
enum ReusableConnection {
    /// An open connection to use.
    case open(Channel)
    /// A dial another request started: this one waits for it rather than dialling its own.
    case dialling(EventLoopFuture<Channel>)
}

extension ServiceProxy {
    /// Connects to a backend of `route` for a connection described by `request`: asks the
    /// selector, dials, and on failure tries another backend after a bounded, jittered
    /// backoff, up to `maximumDialAttempts` backends. Every failure counts towards ejecting
    /// that backend.
    ///
    /// With `reusing` (the request-level HTTP proxy, which keeps one connection per backend), a
    /// chosen backend for which it returns an open channel is not dialled again (nor one being
    /// dialled: the request waits for that dial, and dials for itself only if it fails; every
    /// dial started is handed to `dialStarted`), and the load
    /// counted is the request's: the caller ends it with `selector.connectionClosed(to:)` when
    /// the response is over, since an idle kept-alive connection carries no load. Without it,
    /// the load lasts as long as the connection.
    ///
    /// Backends in `avoiding` (those a request was already tried on) are chosen only when no
    /// other is left; they do not count as dial attempts.
    ///
    /// Each success is noted in the flow log with `client` (the client's socket address).
    func connectStream(
        for route: ProxyRoute, request: RequestAttributes, client: SocketAddress?, avoiding: [ServiceBackend] = [],
        reusing: (@Sendable (ServiceBackend) -> ReusableConnection?)? = nil,
        dialStarted: (@Sendable (ServiceBackend, EventLoopFuture<Channel>) -> Void)? = nil
    ) -> EventLoopFuture<ConnectedBackend> {
        let promise = host.eventLoop.makePromise(of: ConnectedBackend.self)
        // Drawn once, so every attempt of this connection would set the same cookie; and only
        // under a cookie policy: a draw is a system call on Linux, on every new connection.
        var cookieValue = ""
        if case .consistentHash(.httpCookie, _) = route.policy {
            var random = host.random
            cookieValue = String(random.next(), radix: 16, uppercase: false)
        }
        attempt(
            route: route, request: request, cookieValue: cookieValue, reuse: Reuse(reusing: reusing, dialStarted: dialStarted),
            avoiding: avoiding, tried: [], failures: [], promise: promise)
        promise.futureResult.whenSuccess { connected in
            self.noteFlow(
                to: connected.choice.backend, over: connected.channel, route: route, transport: reusing == nil ? .tcp : .http,
                client: client)
        }
        return promise.futureResult
    }

    /// Connects to a backend of `route` for the whole of `client`'s connection, chosen by the
    /// client's address alone (no request has been read).
    func connectStream(for route: ProxyRoute, client: Channel) -> EventLoopFuture<ConnectedBackend> {
        connectStream(for: route, request: RequestAttributes(clientAddress: client.remoteAddress?.ipv4Address), client: client.remoteAddress)
    }

    /// `connectStream`'s reuse of connections, carried through its attempts.
    private struct Reuse {
        var reusing: (@Sendable (ServiceBackend) -> ReusableConnection?)?
        var dialStarted: (@Sendable (ServiceBackend, EventLoopFuture<Channel>) -> Void)?
    }

    private func attempt(
        route: ProxyRoute, request: RequestAttributes, cookieValue: String, reuse: Reuse,
        avoiding: [ServiceBackend], tried: [ServiceBackend], failures: [String], promise: EventLoopPromise<ConnectedBackend>
    ) {
        let backends = backends(for: route)
        guard !backends.isEmpty else {
            promise.fail(tried.isEmpty ? ServiceProxyError.noBackends(route)
                : ServiceProxyError.backendsUnreachable(route, failures: failures))
            return
        }
        let selector = selector(for: route)
        var random = host.random
        // Every backend avoided or tried: any untried one will do.
        let avoided = backends.allSatisfy { tried.contains($0) || avoiding.contains($0) } ? [] : avoiding
        guard tried.count < configuration.maximumDialAttempts,
            let choice = selector.choose(
                among: backends, for: request, excluding: tried + avoided, at: host.now, random: &random,
                generatedCookieValue: cookieValue)
        else {
            promise.fail(ServiceProxyError.backendsUnreachable(route, failures: failures))
            return
        }
        let dial = {
            self.dial(
                choice, backends: backends, selector: selector, route: route, request: request, cookieValue: cookieValue, reuse: reuse,
                avoiding: avoiding, tried: tried, failures: failures, promise: promise)
        }
        switch reuse.reusing?(choice.backend) {
        case .open(let open)?:
            selector.connectionOpened(to: choice.backend, for: request, at: host.now)
            promise.succeed(ConnectedBackend(channel: open, choice: choice, selector: selector))
        case .dialling(let pending)?:
            pending.whenComplete { result in
                guard case .success(let channel) = result, channel.isActive else { return dial() }
                selector.connectionOpened(to: choice.backend, for: request, at: self.host.now)
                promise.succeed(ConnectedBackend(channel: channel, choice: choice, selector: selector))
            }
        case nil:
            dial()
        }
    }

    private func dial(
        _ choice: BackendChoice, backends: [ServiceBackend], selector: BackendSelector, route: ProxyRoute, request: RequestAttributes,
        cookieValue: String, reuse: Reuse, avoiding: [ServiceBackend], tried: [ServiceBackend], failures: [String],
        promise: EventLoopPromise<ConnectedBackend>
    ) {
        let dialled = dialer.dialStream(choice.backend)
        dialled.whenComplete { result in
            switch result {
            case .success(let channel):
                selector.connectionOpened(to: choice.backend, for: request, at: self.host.now)
                // Only where choices weigh load: a callback kept per connection costs ~100 bytes.
                if reuse.reusing == nil, selector.policy.weighsLoad {
                    channel.closeFuture.whenComplete { _ in selector.connectionClosed(to: choice.backend) }
                }
                promise.succeed(ConnectedBackend(channel: channel, choice: choice, selector: selector))
            case .failure(let error):
                self.statistics.dialFailures += 1
                if selector.dialFailed(to: choice.backend, at: self.host.now) {
                    self.logger.warning("\(route): backend \(choice.backend) ejected after repeated failures")
                }
                let tried = tried + [choice.backend]
                let failures = failures + ["\(choice.backend): \(error)"]
                if tried.count >= self.configuration.maximumDialAttempts || backends.allSatisfy(tried.contains) {
                    promise.fail(ServiceProxyError.backendsUnreachable(route, failures: failures))
                    return
                }
                let wait = self.configuration.redialBackoff.delay(attempt: tried.count - 1, on: self.host)
                self.host.eventLoop.scheduleTask(in: wait) {
                    self.attempt(
                        route: route, request: request, cookieValue: cookieValue, reuse: reuse, avoiding: avoiding,
                        tried: tried, failures: failures, promise: promise)
                }
            }
        }
        reuse.dialStarted?(choice.backend, dialled)
    }
}
