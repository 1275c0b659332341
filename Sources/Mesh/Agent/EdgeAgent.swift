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
        /// The tunnel to other nodes' agents; none means this node only reaches what it can dial.
        public var tunnel: TunnelConfiguration?

        public init(
            nodeName: String, listenAddress: IPv4Address, dnsPort: UInt16 = 53, clusterDomain: String = "cluster.local",
            upstreamDNS: [SocketAddress] = [], tunnel: TunnelConfiguration? = nil
        ) {
            self.nodeName = nodeName
            self.listenAddress = listenAddress
            self.dnsPort = dnsPort
            self.clusterDomain = clusterDomain
            self.upstreamDNS = upstreamDNS
            self.tunnel = tunnel
        }
    }

    public let host: any Host
    public let configuration: Configuration
    public let table: ServiceTable
    private let snapshotter: ServiceTableSnapshotter
    public let dnsServer: DNSServer
    /// Present when the configuration asks for a tunnel; peers' keys and addresses come from
    /// the Node objects in `table`.
    public let tunnel: MeshTunnel?

    /// Throws `DNSNameError` when the cluster domain is not a valid DNS name.
    public init(host: any Host, configuration: Configuration) throws {
        let domain = try DNSName(configuration.clusterDomain)
        self.host = host
        self.configuration = configuration
        let table = ServiceTable(eventLoop: host.eventLoop, clusterDomain: configuration.clusterDomain)
        self.table = table
        self.snapshotter = ServiceTableSnapshotter(table: table, store: host.store, logger: host.logger)
        let forwarder = configuration.upstreamDNS.isEmpty
            ? nil : DNSForwarder(host: host, upstreams: configuration.upstreamDNS, cache: DNSResponseCache())
        self.dnsServer = DNSServer(
            host: host,
            resolver: ClusterDNSResolver(table: table, configuration: ClusterDNSConfiguration(domain: domain)),
            forwarder: forwarder,
            configuration: DNSServer.Configuration(address: configuration.listenAddress, port: configuration.dnsPort))
        self.tunnel = configuration.tunnel.map { tunnelConfiguration in
            let directory = ServiceTablePeerDirectory(table: table)
            let tunnel = MeshTunnel(host: host, configuration: tunnelConfiguration, keys: directory, dialers: [])
            // Neighbours heard on the LAN first (works offline), then the Node object's addresses.
            tunnel.addDialer(DirectPathDialer(host: host, port: tunnelConfiguration.port) { [weak tunnel] node in
                (tunnel?.lanAddresses(ofNode: node) ?? []) + directory.addresses(ofNode: node).filter {
                    !(tunnel?.lanAddresses(ofNode: node).contains($0) ?? false)
                }
            })
            return tunnel
        }
    }

    /// Restores the offline snapshot (so the node answers before any source has spoken), then
    /// starts saving snapshots and serving DNS.
    public func start() -> EventLoopFuture<ServiceTableRestoreOutcome> {
        table.restore(from: host.store).flatMap { outcome in
            self.snapshotter.start()
            let tunnelStarted = self.tunnel?.start() ?? self.host.eventLoop.makeSucceededVoidFuture()
            return self.dnsServer.start().and(tunnelStarted).map { _ in outcome }
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

    public func stop() -> EventLoopFuture<Void> {
        snapshotter.stop()
        let tunnelStopped = tunnel?.stop() ?? host.eventLoop.makeSucceededVoidFuture()
        return snapshotter.flush().flatMap { self.dnsServer.stop() }.and(tunnelStopped).map { _ in }
    }
}
