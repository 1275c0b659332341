import NIOCore
import NIOHTTP1
import NIOSSL
import NIOTLS

/// The gateway role: exposes services to the outside through the Istio Gateways whose selector
/// matches this gateway's labels and the VirtualServices bound to them.
///
/// It listens on every port those Gateways declare (opening and closing ports as they change)
/// and routes each HTTP request by its host and path (`GatewayRoutes`), request by request on a
/// keep-alive connection, to a service port of the `ServiceProxy`: the service's load-balancing
/// policy, retries, outlier ejection and the tunnel to other nodes apply as to intercepted
/// traffic. A request no route fits gets a 404; a route whose service cannot be reached a 503
/// (or 502). HTTPS servers (`tls.mode: SIMPLE`) end TLS here with the certificate of their
/// `credentialName` Secret, chosen by the client's SNI (`GatewayTLSContexts`); a server with
/// `tls.httpsRedirect` answers 301. TCP servers splice each connection to the destination of
/// the VirtualService `tcp` route for their port; TLS servers in `PASSTHROUGH` mode splice it to
/// the destination of the `tls` route its ClientHello's server name fits, without ending TLS
/// (`GatewayStreamHandler`). Each HTTP route's matches, rewrites, redirects, header edits, CORS,
/// timeout and retries apply as Istio defines them (`GatewayHTTPRoute`). Changes to Gateways,
/// VirtualServices and Secrets apply to the next request (or handshake, or connection).
///
/// Confined to the host's event loop, like the proxy it rides on.
public final class IngressGateway: @unchecked Sendable {
    public struct Configuration: Sendable, Hashable {
        /// EdgeMesh's gateway label: Gateways select `kubeedge: edgemesh-gateway`.
        public static let defaultLabels = ["kubeedge": "edgemesh-gateway"]

        /// This gateway's labels, which Gateways' selectors are matched against.
        public var labels: [String: String]
        /// Which of the node's addresses the ports are opened on (EdgeMesh's `nic`, `includeIP`
        /// and `excludeIP`); all of them, through `0.0.0.0`, by default. A filter that leaves
        /// some out follows the node's addresses as they come and go.
        public var listenOn: InterfaceAddressFilter
        /// The waits before trying again to open a port that could not be opened.
        public var portRetryBackoff: RetryBackoff
        /// The most connections open at once over every port; more are refused at once. The
        /// ports face the internet: a client must not hold a small device's descriptors.
        public var maximumConnections: Int
        /// The most connections one client address holds at once.
        public var maximumConnectionsPerClient: Int
        /// A TCP port's connection with no byte either way for this long is closed (Envoy's
        /// TCP proxy default). HTTP connections are bounded by the proxy's request-head and
        /// keep-alive timeouts instead.
        public var tcpIdleTimeout: TimeAmount

        public init(
            labels: [String: String] = Configuration.defaultLabels, listenOn: InterfaceAddressFilter = .everything,
            portRetryBackoff: RetryBackoff = RetryBackoff(base: .seconds(1), cap: .seconds(30), jitter: .equal),
            maximumConnections: Int = 1024, maximumConnectionsPerClient: Int = 128, tcpIdleTimeout: TimeAmount = .hours(1)
        ) {
            self.labels = labels
            self.listenOn = listenOn
            self.portRetryBackoff = portRetryBackoff
            self.maximumConnections = max(1, maximumConnections)
            self.maximumConnectionsPerClient = max(1, maximumConnectionsPerClient)
            self.tcpIdleTimeout = tcpIdleTimeout
        }
    }

    /// What the gateway refused or closed, for `/metrics` and `edgemesh status`.
    public struct Statistics: Hashable, Sendable {
        public var refusedAtTotalLimit = 0
        public var refusedAtClientLimit = 0
        public var idleCloses = 0
    }

    public let proxy: ServiceProxy
    public let configuration: Configuration
    /// The routes in force.
    public private(set) var routes = GatewayRoutes()
    private var tls = GatewayTLSContexts()
    private lazy var listeners = ListenerSet(
        owner: "gateway", host: proxy.host, listenOn: configuration.listenOn,
        options: StreamListenOptions(address: IPv4Address.any.socketAddress(port: 0), allowRemoteHalfClosure: true, backlog: 1024),
        backoff: configuration.portRetryBackoff
    ) { [weak self] channel, port in
        guard let self else { return channel.eventLoop.makeFailedFuture(GatewayProblem("the gateway has stopped")) }
        guard self.admit(channel) else {
            return channel.eventLoop.makeFailedFuture(GatewayProblem("gateway connection limit reached"))
        }
        return channel.setOption(ChannelOptions.autoRead, value: false).flatMapThrowing {
            try self.serve(channel, onPort: port)
        }
    }
    /// Connections open now, and per client address.
    public private(set) var openConnections = 0
    private var connectionsByClient: [IPv4Address: Int] = [:]
    public private(set) var statistics = Statistics()
    private var subscription: ServiceTable.Subscription?
    /// The node's addresses and which the ports are opened on, when `listenOn` leaves some out.
    public var addressChoices: [InterfaceAddressFilter.Choice] { listeners.addressChoices }
    private var stopped = false
    private var host: any Host { proxy.host }
    /// `proxyRoute(for:)`'s answers while the table and the proxy's routes stay as they were:
    /// every request asks, and the answer means reading a service and its ports.
    private var cachedProxyRoutes: (revisions: ProxyRouteRevisions, byDestination: [GatewayDestination: Result<ProxyRoute, GatewayProblem>])
        = (.init(table: 0, routes: 0), [:])
    private var table: ServiceTable { proxy.table }

    public init(proxy: ServiceProxy, configuration: Configuration = .init()) {
        self.proxy = proxy
        self.configuration = configuration
    }

    /// The ports listened on now, ascending.
    public var listeningPorts: [UInt16] { listeners.ports }

    /// What `edgemesh status` shows: the ports served and how, then each thing declared that
    /// cannot be served (a protocol, a clash, a regex, a certificate).
    public var statusLines: [String] {
        let ports = listeningPorts.map { "\($0) (\(routes.listeners[$0]?.protocol.rawValue ?? "closing"))" }
        let labels = configuration.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        var limits = "\(openConnections) of \(configuration.maximumConnections) connections open"
        if statistics.refusedAtTotalLimit + statistics.refusedAtClientLimit > 0 {
            limits += "; refused \(statistics.refusedAtTotalLimit) at the limit, \(statistics.refusedAtClientLimit) at the "
                + "per-client limit of \(configuration.maximumConnectionsPerClient)"
        }
        let noAddress = !configuration.listenOn.takesEverything && !addressChoices.contains { $0.leftOutBecause == nil }
        let none = routes.listeners.isEmpty ? "no port (no selected Gateway declares one)"
            : noAddress ? "no port (no address of the node is chosen)" : "no port yet"
        var lines = ["gateway \(labels): listening on \(ports.isEmpty ? none : ports.joined(separator: ", "))"]
        if !configuration.listenOn.takesEverything {
            let chosen = addressChoices.filter { $0.leftOutBecause == nil }.map { "\($0.address) (\($0.interface))" }
            lines.append("gateway: on \(chosen.isEmpty ? "no address" : chosen.joined(separator: ", "))")
            lines += addressChoices.filter { $0.leftOutBecause != nil }.map { "gateway: \($0)" }
        }
        return lines + ["gateway: \(limits)"]
            + (routes.problems + tls.problems + listeners.problems).map { "gateway: \($0)" }
    }

    /// Follows the table and opens the ports it declares. A port that cannot be opened is
    /// logged and tried again with backoff while it stays declared, and at once when Gateways
    /// change; the future does not fail for it.
    public func start() -> EventLoopFuture<Void> {
        host.eventLoop.preconditionInEventLoop()
        subscription = table.subscribe { [weak self] summary in
            guard summary.changes.contains(where: { [.gateway, .virtualService, .secret].contains($0.kind) }) else { return }
            self?.reconcile()
        }
        return reconcile()
    }

    /// Closes the ports; connections in progress carry on until either end closes them.
    public func stop() -> EventLoopFuture<Void> {
        host.eventLoop.preconditionInEventLoop()
        stopped = true
        subscription?.cancel()
        subscription = nil
        return listeners.stop()
    }

    // MARK: Following the table

    @discardableResult
    private func reconcile() -> EventLoopFuture<Void> {
        guard !stopped else { return host.eventLoop.makeSucceededVoidFuture() }
        let previous = routes
        routes = GatewayRoutes(
            gateways: table.gateways, virtualServices: table.virtualServices, labels: configuration.labels,
            clusterDomain: table.clusterDomain)
        let previousTLS = tls
        tls = GatewayTLSContexts(routes: routes, secret: table.secret(_:))
        for problem in routes.problems where !previous.problems.contains(problem) {
            host.logger.warning("gateway: \(problem)")
        }
        for problem in tls.problems where !previousTLS.problems.contains(problem) {
            host.logger.warning("gateway: \(problem)")
        }
        return listeners.update(to: routes.listeners.mapValues(\.protocol.rawValue))
    }

    // MARK: Serving connections

    /// Counts a new connection in, or refuses it at a limit; counted out when it closes.
    private func admit(_ channel: Channel) -> Bool {
        let client = channel.remoteAddress?.ipv4Address
        if openConnections >= configuration.maximumConnections {
            statistics.refusedAtTotalLimit += 1
            return false
        }
        if let client, connectionsByClient[client, default: 0] >= configuration.maximumConnectionsPerClient {
            statistics.refusedAtClientLimit += 1
            return false
        }
        openConnections += 1
        if let client { connectionsByClient[client, default: 0] += 1 }
        channel.closeFuture.whenComplete { [weak self] _ in
            guard let self else { return }
            self.openConnections -= 1
            if let client {
                let left = (self.connectionsByClient[client] ?? 1) - 1
                self.connectionsByClient[client] = left > 0 ? left : nil
            }
        }
        return true
    }

    /// Sets up an accepted connection by what its port serves now.
    private func serve(_ channel: Channel, onPort port: UInt16) throws {
        guard let listener = routes.listeners[port] else {
            // The port is being closed: this connection came in just before.
            throw GatewayProblem("gateway port \(port) is no longer served")
        }
        if listener.protocol == .tcp || listener.protocol == .tlsPassthrough {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(IdleConnectionCloser(
                timeout: configuration.tcpIdleTimeout, now: { [host] in host.now }, closed: { [weak self] in self?.statistics.idleCloses += 1 }))
            guard listener.protocol == .tlsPassthrough else {
                try pipeline.addHandler(GatewayStreamHandler(gateway: self, port: port))
                return
            }
            let stream = GatewayStreamHandler(gateway: self, port: port, routing: .byServerName(helloTimeout: proxy.configuration.requestHeadTimeout))
            try pipeline.addHandler(ByteToMessageHandler(SNIHandler { [weak stream, eventLoop = channel.eventLoop] result in
                stream?.serverNameRead(result) ?? eventLoop.makeFailedFuture(GatewayProblem("the connection closed"))
            }))
            try pipeline.addHandler(stream)
            return
        }
        if listener.protocol == .https {
            guard let context = tls.contexts[port] else { throw GatewayProblem("gateway port \(port) has no usable certificate") }
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
        }
        let scheme = listener.protocol == .https ? "https" : "http"
        let routing = HTTPRequestRouting.perRequest(
            description: "gateway port \(port) (\(listener.protocol.rawValue))",
            decide: { [weak self] request, client in
                // A connection may outlive its gateway (the agent stopping, the process not).
                guard let self else {
                    return .answer(LocalReply(status: .serviceUnavailable, reason: "the gateway has stopped"))
                }
                let target = self.target(for: &request, onPort: port, scheme: scheme)
                if case .route = target { Self.addForwardingHeaders(to: &request, client: client, scheme: scheme) }
                return target
            })
        let proxy = self.proxy
        try channel.pipeline.syncOperations.addHandler(HTTPVersionSelector(
            negotiation: listener.protocol == .https ? .alpn : .priorKnowledge, timeout: proxy.configuration.requestHeadTimeout
        ) { pipeline, http2 in
            if http2 {
                try HTTPRequestBalancer.installHTTP2(on: channel, proxy: proxy, routing: routing)
            } else {
                try HTTPRequestBalancer.install(on: pipeline, proxy: proxy, routing: routing)
            }
        })
    }

    /// Where one HTTP request goes, by the routes in force now; `request` becomes what the
    /// backend is sent (rewritten, headers edited).
    func target(for request: inout HTTPRequestHead, onPort port: UInt16, scheme: String) -> HTTPRequestTarget {
        switch routes.decide(GatewayRequest(port: port, scheme: scheme, head: request)) {
        case .notFound(let reason):
            return .answer(LocalReply(status: .notFound, reason: reason))
        case .redirectToHTTPS:
            let hostHeader = request.headers.first(name: "host") ?? ""
            return .answer(LocalReply(redirectTo: "https://" + HostPattern.requestHost(fromHeader: hostHeader) + Self.pathAndQuery(request.uri)))
        case .reply(let reply):
            return .answer(reply)
        case .forward(let forwarded):
            switch chooseRoute(among: forwarded.destinations, of: forwarded.route) {
            case .success(let route):
                request = forwarded.head
                var policy = forwarded.policy
                policy.mirror = forwarded.mirror.flatMap(mirrorRoute)
                return .route(route, policy)
            case .failure(let problem):
                return .answer(LocalReply(status: .serviceUnavailable, reason: problem.reason))
            }
        }
    }

    /// Where this request's copy goes, when the draw says it is one of the `percentage` copied
    /// and the mirror's service is known (a mirror that resolves to nothing is skipped).
    private func mirrorRoute(_ mirror: GatewayRoutes.Mirror) -> ProxyRoute? {
        if mirror.percentage <= 0 { return nil }
        if mirror.percentage < 100 {
            var random = host.random
            guard Double.random(in: 0..<100, using: &random) < mirror.percentage else { return nil }
        }
        return try? proxyRoute(for: mirror.destination).get()
    }

    /// The proxy's route for a new connection to the TCP `port`, by the routes in force now.
    func streamRoute(onPort port: UInt16) -> Result<ProxyRoute, GatewayProblem> {
        switch routes.decideStream(port: port) {
        case .splice(let destinations, let routeName): chooseRoute(among: destinations, of: routeName)
        case .notFound(let reason): .failure(GatewayProblem(reason))
        }
    }

    /// The proxy's route for a TLS connection to the passthrough `port` naming `serverName`.
    func passthroughRoute(onPort port: UInt16, serverName: String?) -> Result<ProxyRoute, GatewayProblem> {
        switch routes.decidePassthrough(port: port, serverName: serverName) {
        case .splice(let destinations, let routeName): chooseRoute(among: destinations, of: routeName)
        case .notFound(let reason): .failure(GatewayProblem(reason))
        }
    }

    /// The proxy's route to one of `destinations`, drawn by weight.
    private func chooseRoute(among destinations: [GatewayDestination], of routeName: String) -> Result<ProxyRoute, GatewayProblem> {
        var random = host.random
        guard let index = GatewayDestination.pick(weights: destinations.map(\.weight), using: &random) else {
            return .failure(GatewayProblem("\(routeName): no destination has a weight"))
        }
        return proxyRoute(for: destinations[index]).mapError { GatewayProblem("\(routeName): \($0.reason)") }
    }

    /// What the backend is told about the original request, as Envoy tells it at the edge: the
    /// client's address appended to `X-Forwarded-For`, the scheme the client used in
    /// `X-Forwarded-Proto` (so an application behind TLS termination builds https links).
    static func addForwardingHeaders(to request: inout HTTPRequestHead, client: SocketAddress?, scheme: String) {
        if let address = client?.ipAddress {
            let earlier = request.headers["x-forwarded-for"].joined(separator: ", ")
            request.headers.replaceOrAdd(name: "X-Forwarded-For", value: earlier.isEmpty ? address : earlier + ", " + address)
        }
        request.headers.replaceOrAdd(name: "X-Forwarded-Proto", value: scheme)
    }

    /// The proxy's route to the service port a destination names.
    func proxyRoute(for destination: GatewayDestination) -> Result<ProxyRoute, GatewayProblem> {
        let revisions = ProxyRouteRevisions(table: table.revision, routes: proxy.routesRevision)
        if cachedProxyRoutes.revisions != revisions {
            cachedProxyRoutes = (revisions, [:])
        } else if let known = cachedProxyRoutes.byDestination[destination] {
            return known
        }
        let route = uncachedProxyRoute(for: destination)
        // Bounded by the destinations the VirtualServices name; emptied on every change.
        cachedProxyRoutes.byDestination[destination] = route
        return route
    }

    private func uncachedProxyRoute(for destination: GatewayDestination) -> Result<ProxyRoute, GatewayProblem> {
        guard let key = destination.service, let service = table.service(key) else {
            let named = destination.service.map { " (\($0))" } ?? ""
            return .failure(.init("destination \(destination.host)\(named) is not a service of this cluster"))
        }
        let tcpPorts = service.spec.ports.filter { $0.protocol == .tcp }
        let port: ServicePort
        if let number = destination.port {
            guard let chosen = tcpPorts.first(where: { $0.port == number }) else {
                return .failure(.init("service \(key) has no TCP port \(number)"))
            }
            port = chosen
        } else {
            guard tcpPorts.count == 1, let only = tcpPorts.first else {
                return .failure(.init("service \(key) has \(tcpPorts.count) TCP ports; the destination must name one (port.number)"))
            }
            port = only
        }
        let routes = service.spec.allocatedClusterIPs.compactMap { IPv4Address($0) }.compactMap { address in
            UInt16(exactly: port.port).flatMap { proxy.route(to: ProxiedAddress(transport: .tcp, address: address, port: $0)) }
        }
        guard let route = routes.first else {
            return .failure(.init("service \(key) has no cluster IP the proxy carries (headless and ExternalName services are not routed)"))
        }
        return .success(route)
    }

    /// The path and query of a request target (absolute-form targets lose their scheme and host).
    static func pathAndQuery(_ target: String) -> String {
        guard let scheme = target.range(of: "://") else { return target.hasPrefix("/") ? target : "/" + target }
        let rest = target[scheme.upperBound...]
        return rest.firstIndex(of: "/").map { String(rest[$0...]) } ?? "/"
    }
}

/// What a route to a service port is derived from: the table and the proxy's routes.
private struct ProxyRouteRevisions: Hashable {
    let table: UInt64
    let routes: UInt64
}

/// Why the gateway cannot serve something (a destination, a connection), in words.
struct GatewayProblem: Error, Hashable, CustomStringConvertible {
    let reason: String

    init(_ reason: String) {
        self.reason = reason
    }

    var description: String { reason }
}
