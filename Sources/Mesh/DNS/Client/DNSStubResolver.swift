import NIOCore

/// Asks one DNS server for a name's IPv4 addresses over UDP, as a pod's libc resolver asks the
/// node's agent: the search list of its resolv.conf with `ndots`, a fresh socket and a random
/// query id per query, a reply accepted only from the server with the matching id and question.
public struct DNSStubResolver: Sendable {
    public var server: SocketAddress
    public var timeout: TimeAmount
    /// Suffixes tried for names with fewer than `ndots` dots before the name itself (Kubernetes
    /// puts `<ns>.svc.<domain> svc.<domain> <domain>` in a pod's resolv.conf).
    public var searchDomains: [String]
    public var ndots: Int

    public init(server: SocketAddress, timeout: TimeAmount = .seconds(2), searchDomains: [String] = [], ndots: Int = 5) {
        self.server = server
        self.timeout = timeout
        self.searchDomains = searchDomains
        self.ndots = ndots
    }

    /// The names a lookup of `name` tries, in order, as glibc's resolver orders them.
    public func candidates(for name: String) -> [String] {
        if name.hasSuffix(".") { return [name] }
        let searched = searchDomains.map { "\(name).\($0)" }
        return name.count(where: { $0 == "." }) < ndots ? searched + [name] : [name] + searched
    }

    /// The A records of the first candidate name that has any (sorted); fails with the last
    /// candidate's `DNSLookupError` (NXDOMAIN, no address, a server failure or silence).
    public func lookupA(_ name: String, on host: any Host) -> EventLoopFuture<[IPv4Address]> {
        lookupA(candidates: candidates(for: name)[...], on: host)
    }

    /// Asks for each of `candidates` in turn (there is at least one) until one has addresses.
    private func lookupA(candidates: ArraySlice<String>, on host: any Host) -> EventLoopFuture<[IPv4Address]> {
        let rest = candidates.dropFirst()
        return query(candidates[candidates.startIndex], on: host).flatMapError { error in
            rest.isEmpty ? host.eventLoop.makeFailedFuture(error) : self.lookupA(candidates: rest, on: host)
        }
    }

    private func query(_ name: String, on host: any Host) -> EventLoopFuture<[IPv4Address]> {
        let question: DNSName
        do {
            question = try DNSName(name)
        } catch {
            return host.eventLoop.makeFailedFuture(DNSLookupError.invalidName(name, "\(error)"))
        }
        var random = host.random
        let id = UInt16.random(in: .min ... .max, using: &random)
        let query = DNSMessage(
            header: DNSHeader(id: id, isRecursionDesired: true), questions: [DNSQuestion(name: question, type: .a)])
        var encoded = ByteBuffer()
        _ = query.encode(into: &encoded)
        let bytes = encoded
        let answered = host.eventLoop.makePromise(of: DNSMessage.self)
        let server = self.server
        let bound = host.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 0))) { channel in
            channel.pipeline.addHandler(DNSReplyCollector(query: query, server: server, promise: answered))
        }
        bound.whenFailure { answered.fail($0) }
        bound.whenSuccess { channel in
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: server, data: bytes), promise: nil)
            answered.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        let timer = host.eventLoop.scheduleTask(in: timeout) { answered.fail(DNSLookupError.timedOut(name, server: server)) }
        return answered.futureResult.flatMapThrowing { reply in
            timer.cancel()
            guard reply.header.responseCode == .noError else {
                throw DNSLookupError.failed(name, reply.header.responseCode)
            }
            let addresses = reply.answers.compactMap { record -> IPv4Address? in
                if case .a(let address) = record.data { return address }
                return nil
            }
            guard !addresses.isEmpty else { throw DNSLookupError.noAddress(name) }
            return addresses.sorted()
        }
    }
}

/// Takes the first datagram that answers the query (same id, same question, from the server).
private final class DNSReplyCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let query: DNSMessage
    private let server: SocketAddress
    private let promise: EventLoopPromise<DNSMessage>

    init(query: DNSMessage, server: SocketAddress, promise: EventLoopPromise<DNSMessage>) {
        self.query = query
        self.server = server
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard envelope.remoteAddress == server,
            let reply = try? DNSMessage(decoding: envelope.data),
            reply.header.isResponse, reply.header.id == query.header.id, reply.questions == query.questions
        else { return }  // Not our answer (a stray or spoofed datagram): keep waiting.
        promise.succeed(reply)
    }
}
