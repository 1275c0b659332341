import Logging
import NIOCore

/// The agent's data plane: keeps the host intercepting every service port in the service
/// table, and carries each intercepted connection (TCP) or datagram flow (UDP) to a backend
/// chosen by the service's load-balancing policy.
///
/// - TCP: one listener takes every intercepted connection; the host tells where each was
///   headed (`Host.originalDestination`). Bytes are spliced both ways with back-pressure and
///   half-close, and passed through untouched (HTTP, WebSocket, TLS alike). Under a policy that
///   hashes on a header, cookie or query parameter, HTTP/1.x connections are balanced request by
///   request instead (`HTTPRequestBalancer`), as Envoy does.
/// - UDP: one socket per service port (a redirected datagram carries no readable original
///   destination), one session per client with an idle timeout; every datagram stays whole.
/// - Backends on another node go through the `Tunnel` when there is one; failed dials move on
///   to other backends with bounded backoff, and backends that keep failing are ejected for a
///   while. Endpoint changes apply to new connections; established ones are left alone.
///
/// Every table change re-applies the whole interception rule set at once. Confined to the
/// host's event loop: create it, start it and call it there.
public final class ServiceProxy: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Where the TCP listener and the UDP sockets bind (all addresses by default, since the
        /// kernel redirects to the loopback or the incoming interface's address).
        public var listenAddress: IPv4Address
        /// The TCP listener's port; 0 picks a free one.
        public var streamPort: UInt16
        public var connectTimeout: TimeAmount
        /// How many backends one connection tries before it is refused.
        public var maximumDialAttempts: Int
        /// The wait before dialling another backend after a failed dial: 25 ms doubling to 250 ms,
        /// the upper half of each step at random, so clients failing at once do not retry in lockstep.
        public var redialBackoff: RetryBackoff
        public var datagramSessionIdleTimeout: TimeAmount
        /// Datagrams queued per session while its backend socket opens; more are dropped.
        public var datagramSessionQueueLimit: Int
        /// Sessions one UDP service port keeps at most (each holds a socket); datagrams from
        /// further clients are dropped until sessions idle out, so a flood of spoofed sources
        /// cannot exhaust the node's descriptors.
        public var maximumDatagramSessionsPerPort: Int
        /// How long the proxy waits for the first request head when the policy needs one.
        public var requestHeadTimeout: TimeAmount
        /// How long a kept-alive HTTP connection may wait for its next complete request head
        /// (as nginx's keepalive_timeout): an idle or trickling client is closed after it.
        public var keepAliveTimeout: TimeAmount
        public var maximumRequestHeadLength: Int
        /// Outlier detection for services whose DestinationRule asks for none; nil (the
        /// default, as in Istio) ejects nothing there.
        public var outlierDetection: OutlierDetector.Configuration?
        /// How long after a failed `interception.apply` the proxy tries again.
        public var interceptionRetryDelay: TimeAmount
        /// Kept-alive HTTP/1.1 backend connections no client is using, kept for the next request
        /// (`BackendConnectionPool`): at most this many per backend (nginx's `keepalive`)...
        public var maximumIdleConnectionsPerBackend: Int
        /// ... and this many in all, each for at most `backendIdleTimeout`.
        public var maximumIdleBackendConnections: Int
        public var backendIdleTimeout: TimeAmount

        public init(
            listenAddress: IPv4Address = .any, streamPort: UInt16 = 0, connectTimeout: TimeAmount = .seconds(5),
            maximumDialAttempts: Int = 3,
            redialBackoff: RetryBackoff = RetryBackoff(base: .milliseconds(25), cap: .milliseconds(250), jitter: .equal),
            datagramSessionIdleTimeout: TimeAmount = .seconds(60),
            datagramSessionQueueLimit: Int = 64, maximumDatagramSessionsPerPort: Int = 10_000, requestHeadTimeout: TimeAmount = .seconds(5),
            keepAliveTimeout: TimeAmount = .seconds(60), maximumRequestHeadLength: Int = 16 * 1024, outlierDetection: OutlierDetector.Configuration? = nil,
            interceptionRetryDelay: TimeAmount = .seconds(5), maximumIdleConnectionsPerBackend: Int = 256,
            maximumIdleBackendConnections: Int = 1024, backendIdleTimeout: TimeAmount = .seconds(60)
        ) {
            self.listenAddress = listenAddress
            self.streamPort = streamPort
            self.connectTimeout = connectTimeout
            self.maximumDialAttempts = max(1, maximumDialAttempts)
            self.redialBackoff = redialBackoff
            self.datagramSessionIdleTimeout = datagramSessionIdleTimeout
            self.datagramSessionQueueLimit = max(1, datagramSessionQueueLimit)
            self.maximumDatagramSessionsPerPort = max(1, maximumDatagramSessionsPerPort)
            self.requestHeadTimeout = requestHeadTimeout
            self.keepAliveTimeout = keepAliveTimeout
            self.maximumRequestHeadLength = maximumRequestHeadLength
            self.outlierDetection = outlierDetection
            self.interceptionRetryDelay = interceptionRetryDelay
            self.maximumIdleConnectionsPerBackend = maximumIdleConnectionsPerBackend
            self.maximumIdleBackendConnections = maximumIdleBackendConnections
            self.backendIdleTimeout = backendIdleTimeout
        }
    }

    /// Counters a user (or a test) reads to see what the proxy did.
    public struct Statistics: Hashable, Sendable {
        public var streamsAccepted = 0
        public var streamsProxied = 0
        public var streamsRefused = 0
        public var dialFailures = 0
        public var datagramSessionsOpened = 0
        public var datagramsDropped = 0
        /// HTTP connections closed because a request head was late (first or next).
        public var requestHeadTimeouts = 0
        /// HTTP requests tried again on another backend (a route's `retries`).
        public var requestRetries = 0
        /// HTTP requests answered 504 or cut off at their route's `timeout`.
        public var requestTimeouts = 0
        /// HTTP requests sent on an idle backend connection another client connection had left
        /// in the pool, instead of on a new one.
        public var backendConnectionsReused = 0
        /// Copies of requests sent to a gateway route's `mirror`.
        public var requestsMirrored = 0
        /// Requests a route mirrors whose copy was not sent: a body over 64 KiB, 64 copies
        /// already out, or a mirror whose backends speak HTTP/2.
        public var mirrorsSkipped = 0
    }

    /// Mirrored copies out now (`HTTPRequestMirror.maximumInFlight` at most).
    var mirrorsInFlight = 0
    public let host: any Host
    public let table: ServiceTable
    public let configuration: Configuration
    let dialer: BackendDialer
    var logger: Logger { host.logger }
    public internal(set) var statistics = Statistics()
    /// The flows carried recently (`recentFlows`, `GET /flows`).
    var flowLog = ProxiedFlowLog()
    /// Idle kept-alive connections to backends, shared by every request-balanced client connection.
    let idleBackendConnections: BackendConnectionPool

    private var listener: Channel?
    private var subscription: ServiceTable.Subscription?
    /// The routes in force, by intercepted address.
    private(set) var routes: [ProxiedAddress: ProxyRoute] = [:] {
        didSet { routesRevision &+= 1 }
    }
    /// Counts changes of `routes`, so that what is derived from them can be cached.
    private(set) var routesRevision: UInt64 = 0
    /// One selector per route, kept while the route's policy and affinity stay the same.
    private var selectors: [ProxiedAddress: BackendSelector] = [:]
    private var datagramPorts: [ProxiedAddress: DatagramServicePort] = [:]
    /// Each route's backends at `table.revision`: the request-level HTTP proxy asks on every
    /// request, and reading them from the table means flattening and sorting its endpoints.
    private var cachedBackends: (revision: UInt64, byAddress: [ProxiedAddress: (route: ProxyRoute, backends: [ServiceBackend])])
        = (0, [:])
    /// The rule set last applied successfully.
    public private(set) var appliedRules: [InterceptionRule] = []
    private var reconciling = false
    private var reconcileAgain = false
    private var stopped = false

    public init(host: any Host, table: ServiceTable, tunnel: (any Tunnel)? = nil, configuration: Configuration = .init()) {
        self.host = host
        self.table = table
        self.configuration = configuration
        self.dialer = BackendDialer(host: host, tunnel: tunnel, connectTimeout: configuration.connectTimeout)
        self.idleBackendConnections = BackendConnectionPool(
            eventLoop: host.eventLoop,
            limits: .init(
                perBackend: configuration.maximumIdleConnectionsPerBackend, total: configuration.maximumIdleBackendConnections,
                idleTimeout: configuration.backendIdleTimeout))
    }

    /// Idle kept-alive backend connections held for the next request now.
    public var idleBackendConnectionCount: Int { idleBackendConnections.count }

    /// The TCP listener's port, once started.
    public var streamPort: UInt16? { listener?.localAddress?.port.map(UInt16.init) }

    /// Opens the TCP listener, follows the table, and applies the first rule set. The future
    /// fails only when the proxy cannot listen; a rule set the host refuses is logged and
    /// retried, so the rest of the agent (DNS) keeps working meanwhile.
    public func start() -> EventLoopFuture<Void> {
        host.eventLoop.preconditionInEventLoop()
        let options = StreamListenOptions(
            address: configuration.listenAddress.socketAddress(port: configuration.streamPort),
            allowRemoteHalfClosure: true, backlog: 1024)
        return host.listenStream(options) { [self] channel in
            channel.turnAutoReadOff().flatMapThrowing {
                try channel.pipeline.syncOperations.addHandler(InterceptedStreamHandler(proxy: self))
            }
        }.flatMap { listener in
            self.listener = listener
            self.subscription = self.table.subscribe { [weak self] _ in self?.reconcile() }
            self.logger.info("proxy listening on \(listener.localAddress.map { "\($0)" } ?? "?")")
            return self.reconcile().recover { _ in }
        }
    }

    /// Stops following the table, removes the interception rules and closes the listeners.
    /// Connections in progress carry on until either end closes them.
    public func stop() -> EventLoopFuture<Void> {
        host.eventLoop.preconditionInEventLoop()
        stopped = true
        idleBackendConnections.closeAll()
        subscription?.cancel()
        subscription = nil
        let closing = [listener].compactMap { $0 }.map { $0.close() }
            + datagramPorts.keys.sorted().compactMap { datagramPorts[$0]?.close() }
        listener = nil
        datagramPorts = [:]
        appliedRules = []
        let removed = host.interception.removeAll()
        return EventLoopFuture.andAllComplete(closing + [removed], on: host.eventLoop)
            .flatMap { removed }
    }

    // MARK: Following the table

    /// Brings routes, UDP sockets and interception in line with the table. Runs one at a time;
    /// a change that arrives meanwhile is handled by one more round when this one ends.
    @discardableResult
    func reconcile() -> EventLoopFuture<Void> {
        guard !stopped else { return host.eventLoop.makeSucceededVoidFuture() }
        guard !reconciling else {
            reconcileAgain = true
            return host.eventLoop.makeSucceededVoidFuture()
        }
        reconciling = true
        let desired = ProxyRoute.routes(in: table)
        updateRoutes(desired)
        return openDatagramPorts().flatMap { () -> EventLoopFuture<Void> in
            let rules = self.interceptionRules()
            guard rules != self.appliedRules, !self.stopped else { return self.host.eventLoop.makeSucceededVoidFuture() }
            return self.host.interception.apply(rules).map {
                self.logger.info("interception: \(rules.count) rules for \(self.routes.count) service ports")
                self.appliedRules = rules
            }
        }.flatMapErrorThrowing { error in
            self.logger.error("interception not updated: \(error); retrying in \(self.configuration.interceptionRetryDelay)")
            self.host.eventLoop.scheduleTask(in: self.configuration.interceptionRetryDelay) { self.reconcile() }
            throw error
        }.always { _ in
            self.reconciling = false
            if self.reconcileAgain {
                self.reconcileAgain = false
                self.reconcile()
            }
        }
    }

    private func updateRoutes(_ desired: [ProxyRoute]) {
        var next: [ProxiedAddress: ProxyRoute] = [:]
        for route in desired { next[route.address] = route }
        for (address, selector) in selectors {
            guard let route = next[address], route.policy == selector.policy,
                route.affinityTimeout == selector.affinity?.timeout,
                outlierDetection(for: route) == selector.outlierDetection
            else {
                selectors[address] = nil
                continue
            }
            selector.retain(only: route.backends(in: table, node: host.name))
        }
        routes = next
        for address in datagramPorts.keys.sorted() where next[address] == nil {
            datagramPorts.removeValue(forKey: address)?.close(promise: nil)
        }
        for address in datagramPorts.keys.sorted() {
            datagramPorts[address]?.backendsChanged(to: next[address].map { $0.backends(in: table, node: host.name) } ?? [])
        }
    }

    private func openDatagramPorts() -> EventLoopFuture<Void> {
        let missing = routes.keys.filter { $0.transport == .udp && datagramPorts[$0] == nil }.sorted()
        let opened = missing.map { address in
            DatagramServicePort.open(proxy: self, address: address).map { port -> Void in
                if self.stopped || self.routes[address] == nil {
                    port.close(promise: nil)
                } else {
                    self.datagramPorts[address] = port
                }
            }
        }
        return EventLoopFuture.andAllSucceed(opened, on: host.eventLoop)
    }

    private func interceptionRules() -> [InterceptionRule] {
        guard let streamPort else { return [] }
        return routes.keys.sorted().compactMap { address in
            let localPort: UInt16
            switch address.transport {
            case .tcp: localPort = streamPort
            case .udp:
                guard let port = datagramPorts[address]?.localPort else { return nil }
                localPort = port
            }
            return InterceptionRule(
                transport: address.transport, serviceAddress: address.address, servicePort: address.port,
                localPort: localPort)
        }
    }

    // MARK: Lookups for connections

    /// The route for traffic that was headed to `destination`.
    func route(to destination: ProxiedAddress) -> ProxyRoute? {
        routes[destination]
    }

    /// The route's selector, made on first use.
    func selector(for route: ProxyRoute) -> BackendSelector {
        if let selector = selectors[route.address] { return selector }
        let selector = BackendSelector(
            policy: route.policy, affinityTimeout: route.affinityTimeout,
            outlierDetection: outlierDetection(for: route))
        selectors[route.address] = selector
        return selector
    }

    /// The route's DestinationRule's outlier detection, else the operator's default (nil: none).
    private func outlierDetection(for route: ProxyRoute) -> OutlierDetector.Configuration? {
        route.outlierDetection ?? configuration.outlierDetection
    }

    /// The route's backends now.
    func backends(for route: ProxyRoute) -> [ServiceBackend] {
        if cachedBackends.revision != table.revision { cachedBackends = (table.revision, [:]) }
        if let cached = cachedBackends.byAddress[route.address], cached.route == route { return cached.backends }
        let backends = route.backends(in: table, node: host.name)
        cachedBackends.byAddress[route.address] = (route, backends)
        return backends
    }
}
