import Mesh
import NIOCore
import NIOSSL

/// A client that sends requests on a schedule and logs each outcome: the scenario's way of
/// asking "does traffic get through, how fast, and to whom".
///
/// Request `i` goes to `targets[i % targets.count]` at `firstRequestAt + i × interval`. Every
/// request uses a new connection (or socket), so connection set-up and NAT traversal are
/// measured each time, except `httpKeepAlive`'s and `grpc`'s, which share one. Requests whose time has passed when the workload (re)starts, after a
/// crash of its node say, are not sent.
public struct ClientWorkload: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case http, tcp, udp, websocket
        /// An HTTP GET over TLS, the server's certificate checked against `trustedAuthorities`
        /// and the target's name.
        case https
        /// Each request is an A lookup of the target name at the name server; the target's
        /// port is not used.
        case dns
        /// HTTP GETs on one kept-alive connection, each with its own `X-Client-Key` header
        /// (`KeepAliveHTTPSession`).
        case httpKeepAlive = "http-keepalive"
        /// The same over one TLS connection, checked as `https` checks it.
        case httpsKeepAlive = "https-keepalive"
        /// Echo through the SOCKS5 node proxy at `socksProxy`, which connects to the target by
        /// its name (`Socks5EchoExchange`).
        case socks5
        /// Unary gRPC calls on one HTTP/2 connection (`GRPCClientSession`), each answered by
        /// whichever replica the proxy chose for it; `path` is the method unless it is `/`.
        case grpc
    }

    /// The method a `.grpc` client calls when the scenario names none.
    static let defaultGRPCMethod = "/edgemesh.scenario.Who/Name"

    public var kind: Kind
    public var targets: [HostPort]
    public var firstRequestAt: NIODeadline
    public var interval: TimeAmount
    public var count: Int
    public var timeout: TimeAmount
    public var payloadSize: Int
    /// Where names that `resolver` does not know are looked up (the node's agent), as a pod's
    /// resolver asks the cluster DNS. Required for `.dns`.
    public var nameServer: SocketAddress?
    /// The search list for names looked up at `nameServer`.
    public var searchDomains: [String]
    /// Whom an `.https` client trusts (required for it).
    public var trustedAuthorities: NIOSSLContext?
    /// The `Host` header of HTTP requests (a gateway's virtual host); nil sends the target.
    public var hostHeader: String?
    /// The request target of HTTP requests.
    public var path: String
    /// `http` and `https` clients keep the cookies responses set and send them back, as a
    /// browser does (`CookieJar`), from the workload's (re)start on.
    public var keepsCookies: Bool
    /// The SOCKS5 proxy a `.socks5` client goes through (required for it).
    public var socksProxy: HostPort?

    public init(
        kind: Kind, targets: [HostPort], firstRequestAt: NIODeadline, interval: TimeAmount, count: Int,
        timeout: TimeAmount, payloadSize: Int, nameServer: SocketAddress? = nil, searchDomains: [String] = [],
        trustedAuthorities: NIOSSLContext? = nil, hostHeader: String? = nil, path: String = "/", keepsCookies: Bool = false,
        socksProxy: HostPort? = nil
    ) {
        precondition(kind != .socks5 || socksProxy != nil, "a socks5 client needs a proxy")
        self.socksProxy = socksProxy
        precondition(!keepsCookies || kind == .http || kind == .https, "only http and https clients keep cookies")
        self.keepsCookies = keepsCookies
        self.hostHeader = hostHeader
        self.path = path
        self.searchDomains = searchDomains
        precondition(kind != .dns || nameServer != nil, "a dns client needs a name server")
        precondition(kind != .https || trustedAuthorities != nil, "an https client needs authorities to trust")
        self.trustedAuthorities = trustedAuthorities
        self.nameServer = nameServer
        self.kind = kind
        self.targets = targets
        self.firstRequestAt = firstRequestAt
        self.interval = interval
        self.count = count
        self.timeout = timeout
        self.payloadSize = payloadSize
    }

    /// Schedules the requests still ahead on `host`.
    public func start(on host: any Host, resolver: @escaping NameResolver, log: RequestLog) {
        precondition(!targets.isEmpty, "a client needs at least one target")
        let session: KeepAliveHTTPSession? = switch kind {
        case .httpKeepAlive: KeepAliveHTTPSession(host: host)
        case .httpsKeepAlive: KeepAliveHTTPSession(host: host, tls: tls(for: targets[0]))
        default: nil
        }
        let grpc = kind == .grpc ? GRPCClientSession(host: host) : nil
        let cookies = keepsCookies ? CookieJar() : nil
        let now = host.now
        for index in 0..<count {
            let due = firstRequestAt + interval * Int64(index)
            guard due >= now else { continue }
            host.eventLoop.scheduleTask(deadline: due) {
                self.sendRequest(index, on: host, session: session, grpc: grpc, cookies: cookies, resolver: resolver, log: log)
            }
        }
    }

    private func sendRequest(
        _ index: Int, on host: any Host, session: KeepAliveHTTPSession?, grpc: GRPCClientSession?, cookies: CookieJar?,
        resolver: @escaping NameResolver, log: RequestLog
    ) {
        let target = targets[index % targets.count]
        let started = host.now
        let note = RequestSocketNote()
        let answered: EventLoopFuture<String>
        if kind == .socks5, let socksProxy {
            // The target's name goes to the proxy as it is; only the proxy's is resolved here.
            answered = resolve(socksProxy.host, on: host, resolver: resolver).flatMap { address in
                Socks5EchoExchange.echo(
                    on: host, proxy: address.socketAddress(port: socksProxy.port), target: target, payload: self.payload(index), note: note)
            }.map { target.description }
        } else if kind == .dns, let nameServer {
            answered = DNSStubResolver(server: nameServer, timeout: timeout, searchDomains: searchDomains).lookupA(target.host, on: host)
                .map { $0.map(\.description).joined(separator: ",") }
        } else {
            answered = resolve(target.host, on: host, resolver: resolver).flatMap { address in
                self.exchange(index, with: address, target: target, on: host, session: session, grpc: grpc, cookies: cookies, note: note)
            }
        }
        answered
            .withTimeout(timeout)
            .whenComplete { result in
                let latency = host.now - started
                switch result {
                case .success(let backend):
                    log.record(RequestOutcome(
                        startedAt: started, latency: latency, succeeded: true, backend: backend, clientPort: note.localPort))
                case .failure(let error):
                    host.logger.debug("request \(index) to \(target) failed: \(error)")
                    log.record(RequestOutcome(startedAt: started, latency: latency, succeeded: false, failure: "\(error)"))
                }
            }
    }

    /// An address literal or a name `resolver` knows at once; else, with a name server, its
    /// first A record (the lookup's time counts in the request's latency, as for a real client).
    private func resolve(_ name: String, on host: any Host, resolver: NameResolver) -> EventLoopFuture<IPv4Address> {
        if let address = resolver(name) { return host.eventLoop.makeSucceededFuture(address) }
        guard let nameServer else { return host.eventLoop.makeFailedFuture(ExchangeError("cannot resolve \(name)")) }
        return DNSStubResolver(server: nameServer, timeout: timeout, searchDomains: searchDomains).lookupA(name, on: host).map { $0[0] }
    }

    /// How an https client checks `target`: an address literal is no name, so the certificate
    /// must then list the address itself; a virtual host is the name asked for (SNI) and checked.
    private func tls(for target: HostPort) -> HTTPExchange.TLS? {
        let name = hostHeader.map(HostPattern.requestHost(fromHeader:)) ?? target.host
        let serverName = IPv4Address(name) == nil ? name : nil
        return trustedAuthorities.map { HTTPExchange.TLS(context: $0, serverName: serverName) }
    }

    /// Runs one request; succeeds with the name of who answered.
    private func exchange(
        _ index: Int, with address: IPv4Address, target: HostPort, on host: any Host, session: KeepAliveHTTPSession?,
        grpc: GRPCClientSession?, cookies: CookieJar?, note: RequestSocketNote
    ) -> EventLoopFuture<String> {
        switch kind {
        case .grpc:
            guard let grpc else { preconditionFailure("a grpc client has its session from start") }
            return grpc.call(
                path == "/" ? Self.defaultGRPCMethod : path, request: "request \(index)", address: address, port: target.port,
                authority: hostHeader ?? target.description, note: note)
        case .httpKeepAlive, .httpsKeepAlive:
            guard let session else { preconditionFailure("a keep-alive client has its session from start") }
            return session.get(
                index, address: address, port: target.port, authority: hostHeader ?? target.description, path: path, note: note)
        case .http:
            return HTTPExchange.get(
                on: host, address: address, port: target.port, authority: hostHeader ?? target.description, path: path,
                cookies: cookies, note: note)
        case .https:
            // An address literal is no name: the certificate must then list the address itself.
            // A virtual host is the name asked for (SNI) and checked.
            return HTTPExchange.get(
                on: host, address: address, port: target.port, authority: hostHeader ?? target.description, path: path,
                tls: tls(for: target), cookies: cookies, note: note)
        case .tcp:
            return StreamEchoExchange.echo(on: host, address: address, port: target.port, payload: payload(index), note: note)
                .map { target.description }
        case .udp:
            return DatagramEchoExchange.echo(on: host, address: address, port: target.port, payload: payload(index), note: note)
                .map { target.description }
        case .websocket:
            return WebSocketEchoExchange.echo(
                on: host, address: address, port: target.port, authority: target.description,
                message: "request \(index) " + String(repeating: "x", count: max(0, payloadSize - 16)), note: note
            ).map { target.description }
        case .dns, .socks5:
            preconditionFailure("\(kind) requests are answered in sendRequest")
        }
    }

    /// A payload that differs per request, so a stale echo is never mistaken for the right one.
    private func payload(_ index: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(payloadSize)
        for offset in 0..<max(payloadSize, 1) {
            buffer.writeInteger(UInt8(truncatingIfNeeded: index &* 31 &+ offset))
        }
        return buffer
    }
}
