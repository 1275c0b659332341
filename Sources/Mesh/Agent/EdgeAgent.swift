import Logging
import NIOCore

/// The agent of one node, as far as it is built: the service table fed by manifests (and by
/// the API server as that lands), its offline snapshot, the DNS server answering from it, and
/// the service proxy intercepting and carrying cluster-IP traffic.
///
/// Confined to the host's event loop: create it, and call it, there.
public final class EdgeAgent: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var nodeName: String
        /// Where the DNS server listens (EdgeMesh uses 169.254.96.16 on its own device).
        public var listenAddress: IPv4Address
        public var dnsPort: UInt16
        public var clusterDomain: String
        /// Where names outside the cluster go; none means they are refused.
        public var upstreamDNS: [SocketAddress]
        /// Where `/metrics` and `/status` are served; nil serves neither.
        public var statusAddress: SocketAddress?
        public var proxy: ServiceProxy.Configuration

        public init(
            nodeName: String, listenAddress: IPv4Address, dnsPort: UInt16 = 53, clusterDomain: String = "cluster.local",
            upstreamDNS: [SocketAddress] = [], statusAddress: SocketAddress? = nil, proxy: ServiceProxy.Configuration = .init()
        ) {
            self.statusAddress = statusAddress
            self.nodeName = nodeName
            self.listenAddress = listenAddress
            self.dnsPort = dnsPort
            self.clusterDomain = clusterDomain
            self.upstreamDNS = upstreamDNS
            self.proxy = proxy
        }
    }

    public let host: any Host
    public let configuration: Configuration
    public let table: ServiceTable
    private let snapshotter: ServiceTableSnapshotter
    public let dnsServer: DNSServer
    /// Serves `/metrics` and `/status` when the configuration asks for it.
    public private(set) var httpEndpoint: AgentHTTPEndpoint?
    /// The API server the table follows, once `follow` was called.
    public private(set) var apiSource: KubernetesAPISource?
    /// When `start` was called (host clock), for the status's uptime.
    public private(set) var startedAt: NIODeadline = .uptimeNanoseconds(0)
    /// Where the table's objects come from, in words for the status.
    public private(set) var sourceDescription = "snapshot only"
    public let proxy: ServiceProxy

    /// Throws `DNSNameError` when the cluster domain is not a valid DNS name. Without a
    /// `tunnel`, backends on other nodes are dialled at their own addresses.
    public init(host: any Host, configuration: Configuration, tunnel: (any Tunnel)? = nil) throws {
        let domain = try DNSName(configuration.clusterDomain)
        self.host = host
        self.configuration = configuration
        self.table = ServiceTable(eventLoop: host.eventLoop, clusterDomain: configuration.clusterDomain)
        self.snapshotter = ServiceTableSnapshotter(table: table, store: host.store, logger: host.logger)
        let forwarder = configuration.upstreamDNS.isEmpty
            ? nil : DNSForwarder(host: host, upstreams: configuration.upstreamDNS, cache: DNSResponseCache())
        self.dnsServer = DNSServer(
            host: host,
            resolver: ClusterDNSResolver(table: table, configuration: ClusterDNSConfiguration(domain: domain)),
            forwarder: forwarder,
            configuration: DNSServer.Configuration(address: configuration.listenAddress, port: configuration.dnsPort))
        self.proxy = ServiceProxy(host: host, table: table, tunnel: tunnel, configuration: configuration.proxy)
    }

    /// Restores the offline snapshot (so the node answers before any source has spoken), then
    /// starts saving snapshots, serving DNS and proxying (interception follows the table).
    public func start() -> EventLoopFuture<ServiceTableRestoreOutcome> {
        startedAt = host.now
        return table.restore(from: host.store).flatMap { outcome in
            self.snapshotter.start()
            return self.dnsServer.start().flatMap { self.proxy.start() }.flatMap { self.startHTTPEndpoint() }.map { outcome }
        }
    }

    /// Makes the table hold exactly what these manifest files declare; returns what was skipped.
    @discardableResult
    public func applyManifests(_ files: [String: String]) -> [ManifestProblem] {
        sourceDescription = "manifests"
        let set = ManifestSet(files: files)
        for change in set.changes { table.apply(change) }
        for problem in set.problems { host.logger.warning("manifest skipped: \(problem)") }
        return set.problems
    }

    /// Follows the API server from now on: list-watch of every kind the table holds. Until a
    /// kind has listed, the table keeps what the offline snapshot restored for it.
    public func follow(_ client: KubernetesAPIClient, options: KubernetesAPISource.Options = KubernetesAPISource.Options()) {
        apiSource?.stop()
        let source = KubernetesAPISource(client: client, table: table, options: options)
        apiSource = source
        sourceDescription = "api \(client.endpoint)"
        source.start()
    }

    private func startHTTPEndpoint() -> EventLoopFuture<Void> {
        guard let address = configuration.statusAddress else { return host.eventLoop.makeSucceededVoidFuture() }
        let endpoint = makeHTTPEndpoint(address: address)
        httpEndpoint = endpoint
        // Observability is not worth failing the node's DNS and traffic for: say why and go on.
        return endpoint.start().flatMapErrorThrowing { error in
            self.host.logger.error("status endpoint: cannot listen on \(address): \(error); /metrics and /status are not served")
            self.httpEndpoint = nil
        }
    }

    public func stop() -> EventLoopFuture<Void> {
        apiSource?.stop()
        snapshotter.stop()
        let endpointStopped = httpEndpoint?.stop() ?? host.eventLoop.makeSucceededVoidFuture()
        return snapshotter.flush().flatMap {
            self.proxy.stop().flatMapError { error in
                self.host.logger.error("interception rules not removed: \(error)")
                return self.host.eventLoop.makeSucceededVoidFuture()
            }
        }.flatMap { self.dnsServer.stop() }.flatMap { endpointStopped }
    }
}
