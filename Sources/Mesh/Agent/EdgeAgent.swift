import Logging
import NIOCore

/// The agent of one node: the service table fed by manifests or the API server, its offline
/// snapshot, the DNS server answering from it, the service proxy intercepting and carrying
/// cluster-IP traffic, the tunnel (with relays and hole punching) to other nodes' agents, and,
/// on a gateway node, the ingress gateway.
///
/// Confined to the host's event loop: create it, and call it, there.
public final class EdgeAgent: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// EdgeMesh's listen address, on the agent's own device (`edgemesh0`): the node and the
        /// pods on its bridge (through their gateway) reach it; kubelet's `clusterDNS` names it.
        public static let defaultListenAddress = IPv4Address(169, 254, 96, 16)

        public var nodeName: String
        /// Where the DNS server listens (EdgeMesh uses 169.254.96.16 on its own device).
        public var listenAddress: IPv4Address
        public var dnsPort: UInt16
        public var clusterDomain: String
        /// Where names outside the cluster go; none means they are refused.
        public var upstreamDNS: [SocketAddress]
        /// The longest, in seconds, an upstream's answer is cached (EdgeMesh's `cacheDNS.cacheTTL`).
        public var dnsCacheTTL: UInt32
        /// Where `/metrics` and `/status` are served; nil serves neither.
        public var statusAddress: SocketAddress?
        public var proxy: ServiceProxy.Configuration
        /// The tunnel to other nodes' agents; none means this node only reaches what it can dial.
        public var tunnel: TunnelConfiguration?
        /// Relays to keep reservations on (used with `tunnel`): relayed paths, and hole
        /// punching coordinated through them.
        public var relays: [SocketAddress]
        /// The local port relay control connections and hole punching share.
        public var relayLocalPort: UInt16
        /// The gateway role (Istio Gateways selecting its labels); nil for a node without it.
        public var gateway: IngressGateway.Configuration?
        /// Whether the offline snapshot keeps the gateway's certificates (its Gateways'
        /// `credentialName` Secrets), so it serves HTTPS after a restart without the cloud. Off
        /// by default: no secret reaches the node's disk unless its operator asks.
        public var snapshotsSecrets: Bool
        /// The SOCKS5 node proxy (EdgeMesh's `socks5Proxy`); nil for none. With it, this node's
        /// agent also lets peers' tunnel streams reach its `allowedPorts` on the node itself.
        public var socks5: Socks5Configuration?
        /// The edge CNI (EdgeMesh's `modules.edgeCNI`): pod IPs reachable across nodes, with the
        /// pools nodes without a pod network of their own are given one from; nil when off (the
        /// default, as in EdgeMesh).
        public var edgeCNI: MeshCIDRConfiguration?

        public init(
            nodeName: String, listenAddress: IPv4Address, dnsPort: UInt16 = 53, clusterDomain: String = "cluster.local",
            upstreamDNS: [SocketAddress] = [], dnsCacheTTL: UInt32 = 30, statusAddress: SocketAddress? = nil, proxy: ServiceProxy.Configuration = .init(),
            tunnel: TunnelConfiguration? = nil, relays: [SocketAddress] = [], relayLocalPort: UInt16 = 20007,
            gateway: IngressGateway.Configuration? = nil, snapshotsSecrets: Bool = false, socks5: Socks5Configuration? = nil,
            edgeCNI: MeshCIDRConfiguration? = nil
        ) {
            self.socks5 = socks5
            self.edgeCNI = edgeCNI
            self.gateway = gateway
            self.snapshotsSecrets = snapshotsSecrets
            self.nodeName = nodeName
            self.listenAddress = listenAddress
            self.dnsPort = dnsPort
            self.clusterDomain = clusterDomain
            self.upstreamDNS = upstreamDNS
            self.dnsCacheTTL = dnsCacheTTL
            self.statusAddress = statusAddress
            self.proxy = proxy
            self.tunnel = tunnel
            self.relays = relays
            self.relayLocalPort = relayLocalPort
        }

        /// The ports the agent itself listens on besides the tunnel's (DNS, status): no peer may
        /// have them dialled through the tunnel.
        var ownPorts: Set<UInt16> {
            var ports: Set<UInt16> = [dnsPort]
            if let port = statusAddress?.port { ports.insert(UInt16(truncatingIfNeeded: port)) }
            if let port = socks5?.listenAddress.port { ports.insert(UInt16(truncatingIfNeeded: port)) }
            return ports
        }
    }

    public let host: any Host
    public let configuration: Configuration
    public let table: ServiceTable
    private let snapshotter: ServiceTableSnapshotter
    public let dnsServer: DNSServer
    public let proxy: ServiceProxy
    /// Present when the configuration gives the node the gateway role.
    public let gateway: IngressGateway?
    /// The SOCKS5 node proxy, when configured.
    public let socks5Proxy: Socks5NodeProxy?
    /// Present when the configuration asks for a tunnel: the tunnel with its relays and hole
    /// punching.
    public let agentTunnel: AgentTunnel?
    /// The tunnel to other nodes' agents; peers' keys and addresses come from the Node objects
    /// in `table`.
    public var tunnel: MeshTunnel? { agentTunnel?.tunnel }
    /// The relay reservations and hole punching, once the tunnel has its identity.
    public var relayClient: RelayClient? { agentTunnel?.relayClient }
    public var holePunching: HolePunchService? { agentTunnel?.holePunching }
    /// Serves `/metrics` and `/status` when the configuration asks for it.
    public private(set) var httpEndpoint: AgentHTTPEndpoint?
    /// The API server the table follows, once `follow` was called.
    public private(set) var apiSource: KubernetesAPISource?
    /// Keeps this node's tunnel key on its Node object, while the tunnel runs and the source is
    /// an API server.
    public private(set) var keyPublisher: NodeAnnotationPublisher?
    /// With the edge CNI, keeps the pod network allocated to this node on its Node object
    /// (`edgemesh.io/pod-cidr`), so that no node joining later can move it.
    public private(set) var podNetworkPublisher: NodeAnnotationPublisher?
    /// Follows the table for `podNetworkPublisher`, until it starts.
    private var podNetworkWatch: ServiceTable.Subscription?
    /// With the edge CNI and the tunnel, carries pod-network packets between this node's packet
    /// interface and the peers; nil while the interface is not open.
    public private(set) var podNetworkRouter: PodNetworkRouter?
    /// The CNI network configuration for this node's container runtime, once its pod network is
    /// known; nil while the edge CNI is off or the node has none. Call on the host's event loop.
    public var cniConfiguration: CNINetworkConfiguration? {
        guard configuration.edgeCNI != nil else { return nil }
        let own = podNetworks.networks(of: configuration.nodeName)
        guard !own.isEmpty else { return nil }
        return CNINetworkConfiguration(podNetworks: own, mtu: PacketInterfaceOptions().mtu)
    }
    /// Writes `cniConfiguration` into `directory` whenever it changes, from now until `stop`.
    public func writeCNIConfiguration(to directory: DurableStore) {
        let writer = CNIConfigurationWriter(directory: directory, logger: host.logger)
        cniConfigurationWatch?.cancel()
        cniConfigurationWatch = table.subscribe { [weak self] _ in writer.update(self?.cniConfiguration) }
        writer.update(cniConfiguration)
    }
    private var cniConfigurationWatch: ServiceTable.Subscription?
    /// Why the edge CNI's packet interface could not be opened, for the status.
    public private(set) var podNetworkRouterProblem: String?
    private var podNetworkRouterWatch: ServiceTable.Subscription?
    /// When `start` was called (host clock), for the status's uptime.
    public private(set) var startedAt: NIODeadline = .uptimeNanoseconds(0)
    /// The manifests applied last, whose objects stand in for files that stop parsing.
    private var lastManifests: ManifestSet?
    /// Where the table's objects come from, in words for the status.
    public private(set) var sourceDescription = "snapshot only"
    /// `podNetworks` as of a table revision.
    private var cachedPodNetworks: (revision: UInt64, map: PodNetworkMap)?

    /// Which node each pod network belongs to, from the table's Node objects (and so from the
    /// offline snapshot while the cloud is away); empty while the edge CNI is off. Call on the
    /// host's event loop.
    public var podNetworks: PodNetworkMap {
        guard let meshCIDRs = configuration.edgeCNI else { return PodNetworkMap() }
        if let cached = cachedPodNetworks, cached.revision == table.revision { return cached.map }
        let map = PodNetworkMap(nodes: table.nodes, meshCIDRs: meshCIDRs)
        cachedPodNetworks = (table.revision, map)
        return map
    }

    /// Throws `DNSNameError` when the cluster domain is not a valid DNS name. Cross-node
    /// traffic goes through `tunnel` when given (tests), else through the configured tunnel,
    /// else backends on other nodes are dialled at their own addresses.
    public init(host: any Host, configuration: Configuration, tunnel: (any Tunnel)? = nil) throws {
        let domain = try DNSName(configuration.clusterDomain)
        self.host = host
        self.configuration = configuration
        let table = ServiceTable(eventLoop: host.eventLoop, clusterDomain: configuration.clusterDomain)
        self.table = table
        self.snapshotter = ServiceTableSnapshotter(
            table: table, store: host.store, includingSecrets: configuration.snapshotsSecrets, logger: host.logger)
        let forwarder = configuration.upstreamDNS.isEmpty
            ? nil : DNSForwarder(host: host, upstreams: configuration.upstreamDNS, cache: ForwardedAnswerCache(maximumTTL: configuration.dnsCacheTTL))
        self.dnsServer = DNSServer(
            host: host,
            resolver: ClusterDNSResolver(table: table, configuration: ClusterDNSConfiguration(domain: domain)),
            forwarder: forwarder,
            configuration: DNSServer.Configuration(address: configuration.listenAddress, port: configuration.dnsPort))
        let agentTunnel = configuration.tunnel.map {
            AgentTunnel(
                host: host, table: table, configuration: $0, relays: configuration.relays,
                relayLocalPort: configuration.relayLocalPort, agentPorts: configuration.ownPorts,
                nodePorts: configuration.socks5?.allowedPorts ?? [])
        }
        self.agentTunnel = agentTunnel
        let proxy = ServiceProxy(host: host, table: table, tunnel: tunnel ?? agentTunnel?.tunnel, configuration: configuration.proxy)
        self.proxy = proxy
        self.gateway = configuration.gateway.map { IngressGateway(proxy: proxy, configuration: $0) }
        self.socks5Proxy = configuration.socks5.map {
            let socks5 = Socks5NodeProxy(host: host, table: table, tunnel: tunnel ?? agentTunnel?.tunnel, configuration: $0)
            // Its sessions show in `GET /flows` with the proxy's own.
            socks5.onConnected = { [unowned proxy] flow in proxy.record(flow) }
            return socks5
        }
    }

    /// Restores the offline snapshot (so the node answers before any source has spoken), then
    /// starts saving snapshots, serving DNS, proxying (interception follows the table), the
    /// gateway's ports, the tunnel with its relays, and the status endpoint.
    public func start() -> EventLoopFuture<ServiceTableRestoreOutcome> {
        startedAt = host.now
        return table.restore(from: host.store).flatMap { outcome in
            self.snapshotter.start()
            return self.dnsServer.start()
                .flatMap { self.proxy.start() }
                .flatMap { self.gateway?.start() ?? self.host.eventLoop.makeSucceededVoidFuture() }
                .flatMap { self.startTunnel() }
                .flatMap { self.socks5Proxy?.start() ?? self.host.eventLoop.makeSucceededVoidFuture() }
                .flatMap { self.startHTTPEndpoint() }
                .map { outcome }
        }
    }

    private func startTunnel() -> EventLoopFuture<Void> {
        (agentTunnel?.start { self.startKeyPublisherIfReady() } ?? host.eventLoop.makeSucceededVoidFuture())
            .flatMap { self.startPodNetworkRouter() }
    }

    /// With the edge CNI and the tunnel, opens the packet interface and follows the pod networks.
    /// An interface that cannot open (no CAP_NET_ADMIN, no TUN driver) leaves the rest of the
    /// agent running; the status says why pods on other nodes are out of reach.
    private func startPodNetworkRouter() -> EventLoopFuture<Void> {
        guard configuration.edgeCNI != nil else { return host.eventLoop.makeSucceededVoidFuture() }
        guard let tunnel else {
            podNetworkRouterProblem = "the edge CNI needs the tunnel (--psk-file), which is off: pod packets go nowhere"
            host.logger.error("edge CNI: \(podNetworkRouterProblem!)")
            return host.eventLoop.makeSucceededVoidFuture()
        }
        let router = PodNetworkRouter(host: host, tunnel: tunnel)
        return router.start().map {
            self.podNetworkRouter = router
            self.podNetworkRouterProblem = nil
            router.update(self.podNetworks)
            self.podNetworkRouterWatch = self.table.subscribe { [weak self] _ in
                guard let self, let router = self.podNetworkRouter else { return }
                router.update(self.podNetworks)
            }
        }.recover { error in
            self.podNetworkRouterProblem = "the packet interface did not open: \(error)"
            self.host.logger.error("edge CNI: \(self.podNetworkRouterProblem!)")
        }
    }

    /// Makes the table hold exactly what these manifest files declare; returns what was skipped.
    /// A file that does not parse keeps what it declared last time; one never seen parsing
    /// (the first read after a restart) removes nothing, so the snapshot's objects stay until
    /// every file parses.
    @discardableResult
    public func applyManifests(_ files: [String: String]) -> [ManifestProblem] {
        sourceDescription = "manifests"
        let set = ManifestSet(files: files, previous: lastManifests)
        lastManifests = set
        for var change in set.changes {
            if !set.unparsedFiles.isEmpty, case .replaceAll(let kind, let declared) = change {
                let keys = Set(declared.compactMap(\.tableKey))
                change = .replaceAll(kind: kind, objects: declared + table.objects(of: kind).filter { object in
                    object.tableKey.map { !keys.contains($0) } ?? false
                })
            }
            table.apply(change)
        }
        for problem in set.problems { host.logger.warning("manifest skipped: \(problem)") }
        return set.problems
    }

    /// Follows the API server from now on: list-watch of every kind the table holds. Until a
    /// kind has listed, the table keeps what the offline snapshot restored for it.
    /// With the tunnel running, also publishes this node's tunnel key on its Node object. A
    /// gateway follows Secrets too, for its servers' certificates.
    public func follow(_ client: KubernetesAPIClient, options: KubernetesAPISource.Options = KubernetesAPISource.Options()) {
        var options = options
        options.kinds = Self.followedKinds(options.kinds, gateway: gateway != nil)
        apiSource?.stop()
        keyPublisher?.stop()
        keyPublisher = nil
        stopPodNetworkPublisher()
        let source = KubernetesAPISource(client: client, table: table, options: options)
        apiSource = source
        sourceDescription = "api \(client.endpoint)"
        source.start()
        startKeyPublisherIfReady()
        if configuration.edgeCNI != nil {
            podNetworkWatch = table.subscribe { [weak self] _ in self?.startPodNetworkPublisherIfReady() }
        }
    }

    /// The kinds an agent follows: `kinds`, plus Secrets on a gateway (the certificates its
    /// HTTPS servers name). What the deployed ClusterRoles must grant.
    public static func followedKinds(_ kinds: [TableObjectKind], gateway: Bool) -> [TableObjectKind] {
        gateway && !kinds.contains(.secret) ? kinds + [.secret] : kinds
    }

    /// Starts publishing once both the tunnel identity and an API source exist, whichever came last.
    private func startKeyPublisherIfReady() {
        guard keyPublisher == nil, let client = apiSource?.client, let identity = tunnel?.identity else { return }
        let publisher = NodeAnnotationPublisher(
            client: client, table: table, nodeName: configuration.nodeName, publicKeyText: identity.publicKeyText,
            backoff: apiSource?.options.backoff ?? RetryBackoff())
        keyPublisher = publisher
        publisher.start()
    }

    /// Pins this node's allocated pod network once every kind has listed (an allocation made
    /// from a partial node list could take a block another node holds): the annotation then
    /// names it, and the allocation is never run for this node again.
    private func startPodNetworkPublisherIfReady() {
        guard podNetworkPublisher == nil, let source = apiSource, source.isSynced else { return }
        let own = podNetworks.assignments.filter { $0.node == configuration.nodeName }
        guard !own.isEmpty, own.allSatisfy({ $0.source == .allocated }) else { return }
        let networks = own.map(\.network.description).joined(separator: ",")
        let publisher = NodeAnnotationPublisher(
            client: source.client, table: table, nodeName: configuration.nodeName, annotations: [PodNetworkMap.annotation: networks],
            subject: "pod network", backoff: source.options.backoff)
        podNetworkPublisher = publisher
        podNetworkWatch?.cancel()
        podNetworkWatch = nil
        publisher.start()
    }

    private func stopPodNetworkPublisher() {
        podNetworkWatch?.cancel()
        podNetworkWatch = nil
        podNetworkPublisher?.stop()
        podNetworkPublisher = nil
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
        keyPublisher?.stop()
        stopPodNetworkPublisher()
        snapshotter.stop()
        let tunnelStopped = agentTunnel?.stop() ?? host.eventLoop.makeSucceededVoidFuture()
        let endpointStopped = httpEndpoint?.stop() ?? host.eventLoop.makeSucceededVoidFuture()
        let gatewayStopped = gateway?.stop() ?? host.eventLoop.makeSucceededVoidFuture()
        let socks5Stopped = socks5Proxy?.stop() ?? host.eventLoop.makeSucceededVoidFuture()
        podNetworkRouterWatch?.cancel()
        podNetworkRouterWatch = nil
        cniConfigurationWatch?.cancel()
        cniConfigurationWatch = nil
        let podNetworkStopped = podNetworkRouter?.stop() ?? host.eventLoop.makeSucceededVoidFuture()
        podNetworkRouter = nil
        return snapshotter.flush().flatMap {
            self.proxy.stop().flatMapError { error in
                self.host.logger.error("interception rules not removed: \(error)")
                return self.host.eventLoop.makeSucceededVoidFuture()
            }
        }.flatMap { self.dnsServer.stop() }.and(tunnelStopped).and(endpointStopped).and(gatewayStopped).and(socks5Stopped).and(podNetworkStopped).map { _ in }
    }
}
