import Logging
import NIOCore

/// The agent of one node, as far as it is built: the service table fed by manifests (and by
/// the API server as that lands), its offline snapshot, and the DNS server answering from it.
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

        public init(
            nodeName: String, listenAddress: IPv4Address, dnsPort: UInt16 = 53, clusterDomain: String = "cluster.local",
            upstreamDNS: [SocketAddress] = []
        ) {
            self.nodeName = nodeName
            self.listenAddress = listenAddress
            self.dnsPort = dnsPort
            self.clusterDomain = clusterDomain
            self.upstreamDNS = upstreamDNS
        }
    }

    public let host: any Host
    public let configuration: Configuration
    public let table: ServiceTable
    private let snapshotter: ServiceTableSnapshotter
    public let dnsServer: DNSServer
    /// The API server the table follows, once `follow` was called.
    public private(set) var apiSource: KubernetesAPISource?

    /// Throws `DNSNameError` when the cluster domain is not a valid DNS name.
    public init(host: any Host, configuration: Configuration) throws {
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
    }

    /// Restores the offline snapshot (so the node answers before any source has spoken), then
    /// starts saving snapshots and serving DNS.
    public func start() -> EventLoopFuture<ServiceTableRestoreOutcome> {
        table.restore(from: host.store).flatMap { outcome in
            self.snapshotter.start()
            return self.dnsServer.start().map { outcome }
        }
    }

    /// Makes the table hold exactly what these manifest files declare; returns what was skipped.
    @discardableResult
    public func applyManifests(_ files: [String: String]) -> [ManifestProblem] {
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
        source.start()
    }

    public func stop() -> EventLoopFuture<Void> {
        apiSource?.stop()
        snapshotter.stop()
        return snapshotter.flush().flatMap { self.dnsServer.stop() }
    }
}
