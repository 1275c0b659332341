import NIOCore

/// The node's tunnel as an agent runs it, built and wired in this one place: the tunnel with
/// its direct dialer (LAN neighbours first, then the Node objects' addresses), and, once the
/// tunnel has its identity, the relay reservations and hole punching with their dialers.
///
/// Confined to the host's event loop, as the agent is.
public final class AgentTunnel {
    public let tunnel: MeshTunnel
    /// The relays to keep reservations on; none leaves relayed paths and hole punching off.
    public let relays: [SocketAddress]
    /// The local port relay connections and punches leave from (one port, so the relay sees
    /// the NAT mapping punches use).
    public let relayLocalPort: UInt16
    /// Present once `start` has loaded the identity and relays are configured.
    public private(set) var relayClient: RelayClient?
    public private(set) var holePunching: HolePunchService?
    private let host: any Host

    /// Peers' keys and addresses come from the Node objects in `table`; peers may reach only
    /// endpoints of services on this node (`LocalEndpointTargets`) and `nodePorts` of the node
    /// itself (the SOCKS5 node proxy's), never `agentPorts` (the agent's DNS and status ports;
    /// the tunnel's and relay's own ports are added here).
    public init(
        host: any Host, table: ServiceTable, configuration: TunnelConfiguration, relays: [SocketAddress],
        relayLocalPort: UInt16, agentPorts: Set<UInt16> = [], nodePorts: Set<UInt16> = []
    ) {
        self.host = host
        self.relays = relays
        self.relayLocalPort = relayLocalPort
        let directory = ServiceTablePeerDirectory(table: table)
        var configuration = configuration
        configuration.targetPolicy = LocalEndpointTargets(
            table: table, host: host, reservedPorts: agentPorts.union([configuration.port, relayLocalPort]),
            nodePorts: nodePorts).policy
        let tunnel = MeshTunnel(host: host, configuration: configuration, keys: directory, dialers: [])
        // Neighbours heard on the LAN first (works offline), then the Node object's addresses.
        tunnel.addDialer(DirectPathDialer(host: host, port: configuration.port) { [weak tunnel] node in
            let heard = tunnel?.lanAddresses(ofNode: node) ?? []
            return heard + directory.addresses(ofNode: node).filter { !heard.contains($0) }
        })
        self.tunnel = tunnel
    }

    /// Starts the tunnel, calls `identityReady` as soon as its identity is loaded, then starts
    /// hole punching and the relay client when relays are configured.
    public func start(identityReady: @escaping () -> Void) -> EventLoopFuture<Void> {
        tunnel.start().flatMap {
            identityReady()
            guard !self.relays.isEmpty, let identity = self.tunnel.identity else {
                return self.host.eventLoop.makeSucceededVoidFuture()
            }
            let client = RelayClient(
                host: self.host,
                configuration: RelayClientConfiguration(
                    relays: self.relays, presharedKey: self.tunnel.configuration.presharedKey.bytes,
                    localPort: self.relayLocalPort),
                staticKey: identity.keyPair, acceptor: self.tunnel.peerStreamAcceptor)
            var punchOptions = HolePunchOptions(candidateAddresses: self.tunnel.configuration.listenOn)
            punchOptions.enabled = self.tunnel.configuration.holePunching
            let punching = HolePunchService(
                host: self.host, client: client, options: punchOptions, acceptor: self.tunnel.peerStreamAcceptor)
            self.relayClient = client
            self.holePunching = punching
            if punchOptions.enabled {
                self.tunnel.addDialer(punching.dialer)
                self.tunnel.addDialer(punching.rejoinDialer(
                    connect: { [weak tunnel = self.tunnel] node in _ = tunnel?.connect(to: node) },
                    isConnected: { [weak tunnel = self.tunnel] node in tunnel?.isConnected(to: node) ?? false }))
            }
            self.tunnel.addDialer(client.relayedDialer)
            self.tunnel.reflectDatagramEndpoints(through: self.relays)
            // Punching owns the shared port's listener, so it starts before the relay client dials from that port.
            return punching.start().map { client.start() }
        }
    }

    /// Drops the relay reservations and punching, then closes the tunnel's connections.
    public func stop() -> EventLoopFuture<Void> {
        relayClient?.stop()
        holePunching?.stop()
        return tunnel.stop()
    }
}
