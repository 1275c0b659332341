import NIOCore

/// Resolves names outside the cluster through upstream servers over UDP, with a
/// `ForwardedAnswerCache` in front.
///
/// Per query: a fresh cached answer if there is one; else the upstreams in order, each given
/// `attemptTimeout`, from a new socket (ephemeral port) with a new random ID, accepting only a
/// reply from the upstream's own address and port with that ID and the same question (RFC
/// 5452); else a stale cached answer (RFC 8767); else SERVFAIL. A truncated upstream reply is
/// asked for again over TCP to the same upstream (RFC 7766), so answers too large for UDP
/// resolve; should that fail, the truncated reply is passed on, uncached.
///
/// Identical questions in flight share one upstream exchange, and at most
/// `maximumQueriesInFlight` exchanges (each a socket) are in flight: a query beyond that gets
/// its stale answer or SERVFAIL at once, so a flood of distinct names cannot open sockets
/// without bound.
///
/// Confined to the host's event loop.
public final class DNSForwarder: @unchecked Sendable {
    public let host: any Host
    public let upstreams: [SocketAddress]
    public let attemptTimeout: TimeAmount
    private var cache: ForwardedAnswerCache
    /// Upstream exchanges begun, and how many ended with no reply at all.
    public private(set) var upstreamQueries: UInt64 = 0
    /// Upstream exchanges repeated over TCP because the UDP reply was truncated.
    public private(set) var upstreamStreamQueries: UInt64 = 0
    public private(set) var upstreamTimeouts: UInt64 = 0
    public private(set) var staleAnswers: UInt64 = 0
    /// Queries answered at once (stale or SERVFAIL) because `maximumQueriesInFlight` were.
    public private(set) var queriesRefusedInFlight: UInt64 = 0
    public let maximumQueriesInFlight: Int
    /// The exchange under way for each (question, RD) asked and not yet answered.
    private var inFlight: [InFlightKey: EventLoopFuture<DNSMessage>] = [:]

    private struct InFlightKey: Hashable {
        var question: DNSQuestion
        var recursionDesired: Bool
    }

    public init(
        host: any Host, upstreams: [SocketAddress], attemptTimeout: TimeAmount = .seconds(2),
        cache: ForwardedAnswerCache = ForwardedAnswerCache(), maximumQueriesInFlight: Int = 256
    ) {
        self.host = host
        self.upstreams = upstreams
        self.attemptTimeout = attemptTimeout
        self.cache = cache
        self.maximumQueriesInFlight = max(1, maximumQueriesInFlight)
    }

    public var cachedEntries: Int { cache.count }

    /// The response to `query` (one question, checked by the caller), with its ID and question.
    public func resolve(_ query: DNSMessage) -> EventLoopFuture<DNSMessage> {
        host.eventLoop.preconditionInEventLoop()
        let question = query.questions[0]
        if let cached = cache.fresh(question, now: host.now) {
            return host.eventLoop.makeSucceededFuture(addressed(cached, to: query))
        }
        let key = InFlightKey(question: question, recursionDesired: query.header.isRecursionDesired)
        if let pending = inFlight[key] {
            return pending.map { self.addressed($0, to: query) }
        }
        guard inFlight.count < maximumQueriesInFlight else {
            queriesRefusedInFlight += 1
            return attempt(question, query: query, upstreamIndex: upstreams.count)
        }
        let exchange = attempt(question, query: query, upstreamIndex: 0)
        inFlight[key] = exchange
        exchange.whenComplete { _ in self.inFlight[key] = nil }
        return exchange
    }

    private func attempt(_ question: DNSQuestion, query: DNSMessage, upstreamIndex: Int) -> EventLoopFuture<DNSMessage> {
        guard upstreamIndex < upstreams.count else {
            if let stale = cache.stale(question, now: host.now) {
                staleAnswers += 1
                return host.eventLoop.makeSucceededFuture(addressed(stale, to: query))
            }
            var failure = query.makeResponse(responseCode: .serverFailure, isAuthoritative: false)
            failure.header.isRecursionAvailable = true
            return host.eventLoop.makeSucceededFuture(failure)
        }
        let upstream = upstreams[upstreamIndex]
        let recursionDesired = query.header.isRecursionDesired
        return exchange(question, with: upstream, recursionDesired: recursionDesired)
            .flatMap { reply -> EventLoopFuture<DNSMessage?> in
                guard let reply, reply.header.isTruncated else { return self.host.eventLoop.makeSucceededFuture(reply) }
                return self.streamExchange(question, with: upstream, recursionDesired: recursionDesired).map { $0 ?? reply }
            }
            .flatMap { reply in
                guard let reply, reply.header.responseCode != .serverFailure,
                      reply.header.responseCode != .refused else {
                    return self.attempt(question, query: query, upstreamIndex: upstreamIndex + 1)
                }
                self.cache.store(reply, for: question, now: self.host.now)
                // As cached, so the first client is not told a longer TTL than the next ones.
                let served = self.cache.fresh(question, now: self.host.now) ?? reply
                return self.host.eventLoop.makeSucceededFuture(self.addressed(served, to: query))
            }
    }

    /// A query for `question` with a fresh random ID, encoded.
    private func request(_ question: DNSQuestion, recursionDesired: Bool) -> (id: UInt16, bytes: ByteBuffer) {
        var random = host.random
        let id = UInt16(truncatingIfNeeded: random.next())
        let request = DNSMessage(
            header: DNSHeader(id: id, isRecursionDesired: recursionDesired), questions: [question],
            edns: DNSEDNS())
        var bytes = ByteBufferAllocator().buffer(capacity: 512)
        request.encode(into: &bytes)
        return (id, bytes)
    }

    /// One UDP exchange; `nil` when nothing acceptable came back in time.
    private func exchange(_ question: DNSQuestion, with upstream: SocketAddress, recursionDesired: Bool)
        -> EventLoopFuture<DNSMessage?>
    {
        upstreamQueries += 1
        let (id, payload) = request(question, recursionDesired: recursionDesired)

        let promise = host.eventLoop.makePromise(of: DNSMessage?.self)
        let receiver = DNSUpstreamReplyHandler(id: id, question: question, upstream: upstream, promise: promise)
        let bound = host.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 0))) { channel in
            channel.pipeline.addHandler(receiver)
        }
        bound.whenFailure { _ in promise.succeed(nil) }
        bound.whenSuccess { channel in
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: upstream, data: payload), promise: nil)
            let timer = channel.eventLoop.scheduleTask(in: self.attemptTimeout) {
                self.upstreamTimeouts += 1
                promise.succeed(nil)
            }
            promise.futureResult.whenComplete { _ in
                timer.cancel()
                channel.close(promise: nil)
            }
        }
        return promise.futureResult
    }

    /// One TCP exchange with the upstream, within `attemptTimeout` from connect to reply;
    /// `nil` when it failed.
    private func streamExchange(_ question: DNSQuestion, with upstream: SocketAddress, recursionDesired: Bool)
        -> EventLoopFuture<DNSMessage?>
    {
        upstreamStreamQueries += 1
        let (id, message) = request(question, recursionDesired: recursionDesired)
        var framed = ByteBufferAllocator().buffer(capacity: message.readableBytes + 2)
        framed.writeInteger(UInt16(message.readableBytes))
        framed.writeImmutableBuffer(message)
        let payload = framed

        let promise = host.eventLoop.makePromise(of: DNSMessage?.self)
        let timer = host.eventLoop.scheduleTask(in: attemptTimeout) {
            self.upstreamTimeouts += 1
            promise.succeed(nil)
        }
        let reader = DNSUpstreamStreamReplyHandler(id: id, question: question, promise: promise)
        let connected = host.connectStream(StreamConnectOptions(remote: upstream, connectTimeout: attemptTimeout)) { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(reader) }
        }
        connected.whenFailure { _ in promise.succeed(nil) }
        connected.whenSuccess { channel in
            channel.writeAndFlush(payload, promise: nil)
            promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return promise.futureResult
    }

    /// `response` as the answer to `query`: its ID, its question as spelled, its RD and EDNS.
    private func addressed(_ response: DNSMessage, to query: DNSMessage) -> DNSMessage {
        var answer = query.makeResponse(responseCode: response.header.responseCode, isAuthoritative: false)
        answer.header.isRecursionAvailable = true
        answer.header.isTruncated = response.header.isTruncated
        answer.answers = response.answers
        answer.authorities = response.authorities
        answer.additionals = response.additionals
        return answer
    }
}
