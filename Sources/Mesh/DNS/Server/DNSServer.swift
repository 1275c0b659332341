import NIOCore

/// The agent's DNS server: UDP and TCP (RFC 1035 §4.2, RFC 7766) on one address and port,
/// answering the cluster zone through a `ClusterDNSResolver`, and everything else through a
/// `DNSForwarder` when there is one, else REFUSED.
///
/// Per message: decode; FORMERR when only the header could be read; drop when not even that
/// or when it is itself a response; resolve; encode. UDP answers are limited to 512 octets, or
/// the client's EDNS size capped at `maximumUDPPayloadSize`; one that does not fit goes out with
/// TC set and the client retries over TCP, which gets it whole. Bad input only moves counters.
/// A message the server has answered from the cluster zone before, at the same table revision,
/// gets that answer again from a `ClusterAnswerCache` with its own ID, skipping all of the above.
///
/// Confined to the host's event loop: `start`, `stop`, `statistics` and the channel handlers
/// all run there (it is `@unchecked Sendable` only so the channel initializers may capture it).
public final class DNSServer: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// The address to listen on (the agent's listen IP; any address when unspecified).
        public var address: IPv4Address
        public var port: UInt16
        /// The largest UDP response, and the size advertised in the OPT record (Flag Day 2020).
        public var maximumUDPPayloadSize: Int
        /// Serve TCP as well; off only for tests and setups where another process holds the port.
        public var servesTCP: Bool
        /// A TCP client that sends and receives nothing for this long is closed (RFC 7766 §6.2.3
        /// asks servers to time idle connections out; CoreDNS reads for 10 s).
        public var tcpIdleTimeout: TimeAmount
        /// The most TCP clients at once; more are closed as they connect.
        public var maximumTCPConnections: Int

        public init(
            address: IPv4Address = .any, port: UInt16 = 53,
            maximumUDPPayloadSize: Int = Int(DNSEDNS.defaultPayloadSize), servesTCP: Bool = true,
            tcpIdleTimeout: TimeAmount = .seconds(10), maximumTCPConnections: Int = 256
        ) {
            self.address = address
            self.port = port
            self.maximumUDPPayloadSize = maximumUDPPayloadSize
            self.servesTCP = servesTCP
            self.tcpIdleTimeout = tcpIdleTimeout
            self.maximumTCPConnections = max(1, maximumTCPConnections)
        }
    }

    public let host: any Host
    public let configuration: Configuration
    private let resolver: ClusterDNSResolver
    public let forwarder: DNSForwarder?
    private var counters = DNSServerStatistics()
    private var answers = ClusterAnswerCache()
    private var channels: [Channel] = []
    private var tcpConnections = 0
    /// Shown every response the server sends at once (cluster answers, stored or not, and
    /// refusals), before framing: a simulation's invariants check them against the table.
    private var responseObservers: [(ByteBuffer) -> Void] = []

    public init(
        host: any Host, resolver: ClusterDNSResolver, forwarder: DNSForwarder? = nil,
        configuration: Configuration = Configuration()
    ) {
        self.host = host
        self.resolver = resolver
        self.forwarder = forwarder
        self.configuration = configuration
    }

    /// Calls `observer` with each response answered from the table from now on (not those an
    /// upstream answers). On the host's event loop.
    public func observeResponses(_ observer: @escaping (ByteBuffer) -> Void) {
        responseObservers.append(observer)
    }

    /// Counters since `init`; read on the host's event loop.
    public var statistics: DNSServerStatistics {
        host.eventLoop.preconditionInEventLoop()
        return counters
    }

    /// The bound UDP and TCP addresses (the ports are the real ones when configured as 0).
    public var localAddresses: [SocketAddress] {
        host.eventLoop.preconditionInEventLoop()
        return channels.compactMap(\.localAddress)
    }

    /// Binds UDP and, if configured, TCP. Fails, with nothing left bound, if either fails.
    public func start() -> EventLoopFuture<Void> {
        let address = configuration.address.socketAddress(port: configuration.port)
        let udp = host.bindDatagram(DatagramBindOptions(address: address)) { channel in
            Self.readSeveralDatagramsPerCall(channel).flatMap {
                channel.pipeline.addHandler(DNSDatagramHandler(server: self))
            }
        }
        let tcp: EventLoopFuture<Channel?> = configuration.servesTCP
            ? host.listenStream(StreamListenOptions(address: address)) { channel in
                channel.eventLoop.makeCompletedFuture { try self.serveTCP(channel) }
            }.map { Optional($0) }
            : host.eventLoop.makeSucceededFuture(nil)
        let both = udp.and(tcp)
        both.whenFailure { _ in
            udp.whenSuccess { $0.close(promise: nil) }
            tcp.whenSuccess { $0?.close(promise: nil) }
        }
        return both.map { udpChannel, tcpChannel in
            self.channels = [udpChannel] + (tcpChannel.map { [$0] } ?? [])
        }
    }

    /// Counts a TCP client in (or refuses it over the limit) and frames its messages; an idle
    /// one is closed after `tcpIdleTimeout`.
    private func serveTCP(_ channel: Channel) throws {
        guard tcpConnections < configuration.maximumTCPConnections else {
            counters.tcpConnectionsRefused += 1
            throw DNSServerLimitReached()
        }
        tcpConnections += 1
        channel.closeFuture.whenComplete { _ in self.tcpConnections -= 1 }
        try channel.pipeline.syncOperations.addHandler(IdleConnectionCloser(
            timeout: configuration.tcpIdleTimeout, now: { [host] in host.now }, closed: { self.counters.tcpIdleCloses += 1 }))
        try channel.pipeline.syncOperations.addHandler(DNSStreamHandler(server: self))
    }

    /// Datagrams taken from the socket per system call, where the backend can (recvmmsg on Linux).
    static let datagramsPerRead = 16
    /// The room each of them gets. A query is one question and perhaps an OPT record (padded to
    /// 128-octet blocks at most, RFC 8467), well under 1 KiB. A longer datagram is cut to this;
    /// a query that needs the rest then fails to decode and gets FORMERR (seen: 5,064 octets).
    static let datagramRoom = 4_096

    /// Asks the channel for vector reads: under load, one system call then brings a batch of
    /// queries instead of one (measured: a sixth less CPU per query). The backend splits one
    /// receive buffer evenly among the batch, so the buffer is sized as the batch's room,
    /// 64 KiB, as much as a channel reading one datagram at a time holds. A backend without
    /// vector reads (the simulator) keeps reading one datagram at a time, whole.
    private static func readSeveralDatagramsPerCall(_ channel: Channel) -> EventLoopFuture<Void> {
        channel.setOption(.datagramVectorReadMessageCount, value: datagramsPerRead).flatMap {
            channel.setOption(
                .recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: datagramsPerRead * datagramRoom))
        }.recover { _ in }
    }

    /// Closes the listeners (established TCP connections finish on their own).
    public func stop() -> EventLoopFuture<Void> {
        let closing = channels.map { $0.close() }
        channels = []
        return EventLoopFuture.andAllComplete(closing, on: host.eventLoop)
    }

    /// What to send back for one message: known at once (nothing, for a message that is
    /// dropped), or when an upstream answers.
    enum Reply {
        case immediate(ByteBuffer?)
        case later(EventLoopFuture<ByteBuffer?>)
    }

    /// The encoded response to one message (without TCP framing). Immediate for the cluster
    /// zone, from `answers` when the same question was answered at this table revision;
    /// forwarded names complete when an upstream answers.
    func reply(to bytes: ByteBuffer, from client: SocketAddress?, overUDP: Bool) -> Reply {
        let reply = makeReply(to: bytes, from: client, overUDP: overUDP)
        if !responseObservers.isEmpty, case .immediate(let response?) = reply {
            for observer in responseObservers { observer(response) }
        }
        return reply
    }

    private func makeReply(to bytes: ByteBuffer, from client: SocketAddress?, overUDP: Bool) -> Reply {
        counters.queries += 1
        let revision = resolver.table.revision
        if let stored = answers.answer(to: bytes, overUDP: overUDP, revision: revision),
           let id = bytes.getInteger(at: bytes.readerIndex, as: UInt16.self)
        {
            var response = stored.response
            response.setInteger(id, at: response.readerIndex)
            count(stored.responseCode, truncated: stored.isTruncated)
            return .immediate(response)
        }
        let query: DNSMessage
        do {
            query = try DNSMessage(decoding: bytes)
        } catch {
            counters.malformed += 1
            guard let response = ClusterDNSResolver.formatErrorResponse(toUndecodable: bytes) else {
                counters.dropped += 1
                return .immediate(nil)
            }
            return .immediate(encode(response, limit: overUDP ? DNSMessage.classicUDPSize : nil).response)
        }
        guard !query.header.isResponse else {
            counters.dropped += 1
            return .immediate(nil)
        }
        let limit = overUDP ? query.maximumUDPResponseSize(serverMaximum: configuration.maximumUDPPayloadSize) : nil
        let local = resolver.respond(to: query, clientAddress: client?.ipAddress)
        if local == nil, let forwarder {
            return .later(forwarder.resolve(query).map { self.encode($0, limit: limit).response })
        }
        let entry = encode(local ?? query.makeResponse(responseCode: .refused, isAuthoritative: false), limit: limit)
        if query.questions.count != 1 || !resolver.answerDependsOnClient(query.questions[0]) {
            answers.store(entry, for: bytes, overUDP: overUDP, revision: revision)
        }
        return .immediate(entry.response)
    }

    private func encode(_ response: DNSMessage, limit: Int?) -> ClusterAnswerCache.Entry {
        var response = response
        // Advertise our own limit, whatever the client offered (RFC 6891 §6.2.3).
        if response.edns != nil {
            response.edns?.udpPayloadSize = UInt16(clamping: configuration.maximumUDPPayloadSize)
        }
        var buffer = ByteBufferAllocator().buffer(capacity: min(limit ?? 512, 4096))
        let truncated = response.encode(into: &buffer, maximumSize: limit) && limit != nil
        count(response.header.responseCode, truncated: truncated)
        return ClusterAnswerCache.Entry(response: buffer, responseCode: response.header.responseCode, isTruncated: truncated)
    }

    private func count(_ responseCode: DNSResponseCode, truncated: Bool) {
        if truncated { counters.truncated += 1 }
        counters.recordResponse(responseCode)
    }
}
