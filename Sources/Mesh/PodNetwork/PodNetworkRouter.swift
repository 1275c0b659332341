import NIOCore

/// The edge CNI's data path on one node: the packet interface routes every other node's pod
/// networks to the agent, which sends each packet through the tunnel to the node that owns its
/// destination; packets peers send for this node's pods go back out of the interface.
///
/// Every packet is checked where it crosses a trust boundary, so a holder of one node's
/// credentials can reach only pods, and only as its own pods:
/// - from a peer: its source must be in that peer's pod networks (no spoofing another node's
///   pods) and its destination in this node's (a peer cannot reach the node's own addresses,
///   its LAN, or anything else through the device);
/// - from the device: its destination must be in another node's pod networks.
/// Everything else is dropped and counted; a malformed packet never gets further than its
/// header check. Confined to the host's event loop.
public final class PodNetworkRouter: @unchecked Sendable {
    /// Packets by what became of them.
    public struct Counters: Equatable, Sendable {
        /// Read from the device and handed to the tunnel.
        public var sent: UInt64 = 0
        /// Taken from peers and written to the device.
        public var delivered: UInt64 = 0
        /// Not an IPv4 packet with a valid header.
        public var malformed: UInt64 = 0
        /// From the device to an address no other node's pod network holds.
        public var unroutable: UInt64 = 0
        /// From a peer with a source outside its pod networks or a destination outside ours.
        public var refused: UInt64 = 0
        /// TCP SYNs whose MSS was lowered to fit the device's MTU (`TCPMSSClamp`).
        public var mssClamped: UInt64 = 0
    }

    private let host: any Host
    private let tunnel: MeshTunnel
    private let options: PacketInterfaceOptions
    private var interface: PacketInterface?
    private var map = PodNetworkMap()
    public private(set) var counters = Counters()
    /// Why the routes last failed to install, for the status; nil once they are in.
    public private(set) var routeProblem: String?
    private var deviceFlushScheduled = false

    public init(host: any Host, tunnel: MeshTunnel, options: PacketInterfaceOptions = PacketInterfaceOptions()) {
        self.host = host
        self.tunnel = tunnel
        self.options = options
    }

    /// The MSS a TCP SYN through the pod network may announce at most, both ways: what fits the
    /// device's MTU, so neither end sends segments larger than the tunnel carries.
    private var maximumSegmentSize: UInt16 { TCPMSSClamp.maximumSegmentSize(forMTU: options.mtu) }

    /// The prefixes routed into the device now.
    public var routes: [IPv4Prefix] { interface?.routes ?? [] }

    /// What `edgemesh status` says of the data path: the device, its routes, what became of
    /// the packets, and why routes are missing if they are.
    public var statusLines: [String] {
        let device = interface.map { interface in
            let statistics = interface.statistics
            let offload = statistics.segmentationOffload
                ? "TCP segmentation offload: \(statistics.segmentedReads) large reads cut, \(statistics.joinedWrites) joined writes"
                : "no segmentation offload"
            return "device \(interface.options.name) (MTU \(interface.options.mtu), \(offload), "
                + "\(statistics.droppedReads) reads and \(statistics.droppedWrites) writes dropped)"
        } ?? "device closed"
        let routed = routes.isEmpty ? "no routes yet" : "routes \(routes.map(\.description).joined(separator: ", "))"
        var lines = ["edge CNI: \(device), \(routed)"]
        lines.append(
            "pod packets: \(counters.sent) sent to peers, \(counters.delivered) delivered from peers, \(counters.refused) refused "
                + "(source or destination not the peer's or ours), \(counters.unroutable) to no known pod network, \(counters.malformed) malformed, "
                + "\(counters.mssClamped) TCP SYNs' MSS clamped to \(maximumSegmentSize)")
        if let routeProblem { lines.append("edge CNI routes not installed: \(routeProblem)") }
        return lines
    }

    /// Opens the packet interface and takes packets from peers.
    public func start() -> EventLoopFuture<Void> {
        tunnel.receivePackets { [weak self] node, packet in self?.receive(packet, from: node) }
        return host.openPacketInterface(options) { channel in
            channel.pipeline.addHandler(DevicePacketReader(router: self))
        }.map { interface in
            self.interface = interface
            self.installRoutes()
        }
    }

    /// Follows the pod networks: every other node's are routed into the device.
    public func update(_ map: PodNetworkMap) {
        guard map != self.map else { return }
        self.map = map
        installRoutes()
    }

    /// Closes the device (and so its routes); packets from peers are dropped from now on.
    public func stop() -> EventLoopFuture<Void> {
        tunnel.receivePackets { _, _ in }
        let closing = interface?.channel.close() ?? host.eventLoop.makeSucceededVoidFuture()
        interface = nil
        return closing.recover { _ in }
    }

    private func installRoutes() {
        guard let interface else { return }
        let remote = map.assignments.filter { $0.node != host.name }.map(\.network).sorted { $0.network < $1.network }
        guard remote != interface.routes else { return }
        interface.route(remote).whenComplete { result in
            switch result {
            case .success:
                self.routeProblem = nil
            case .failure(let error):
                self.routeProblem = "\(error)"
                self.host.logger.warning("edge CNI: pod network routes not installed: \(error)")
            }
        }
    }

    /// A packet a local pod (or the node) sent toward another node's pods.
    fileprivate func send(_ packet: ByteBuffer) {
        var packet = packet
        guard let header = IPv4PacketHeader(validating: packet) else {
            counters.malformed += 1
            return
        }
        guard let node = map.node(owning: header.destination), node != host.name else {
            counters.unroutable += 1
            return
        }
        counters.sent += 1
        if TCPMSSClamp.clamp(&packet, header: header, maximum: maximumSegmentSize) { counters.mssClamped += 1 }
        tunnel.sendPacket(packet, to: node)
    }

    fileprivate func flush() {
        tunnel.flushPackets()
    }

    /// A packet `node`'s agent sent for this node's pods.
    private func receive(_ packet: ByteBuffer, from node: String) {
        guard let interface, let header = IPv4PacketHeader(validating: packet) else {
            counters.malformed += 1
            return
        }
        guard map.node(owning: header.source) == node, map.node(owning: header.destination) == host.name else {
            counters.refused += 1
            return
        }
        counters.delivered += 1
        // Only the packet, not link padding after its stated length.
        var delivered = packet.getSlice(at: packet.readerIndex, length: header.totalLength)!
        if TCPMSSClamp.clamp(&delivered, header: header, maximum: maximumSegmentSize) { counters.mssClamped += 1 }
        interface.channel.write(delivered, promise: nil)
        scheduleDeviceFlush(interface.channel)
    }

    /// Flushes the device once the packets that arrived together have all been written, so
    /// the host sees them as one burst (Linux joins a burst's TCP segments into one write).
    /// The flush runs after the event loop's current work: the rest of the datagrams or
    /// stream bytes read with this packet.
    private func scheduleDeviceFlush(_ channel: Channel) {
        guard !deviceFlushScheduled else { return }
        deviceFlushScheduled = true
        host.eventLoop.execute {
            self.deviceFlushScheduled = false
            channel.flush()
        }
    }
}

/// Hands what the device reads to the router.
private final class DevicePacketReader: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private weak var router: PodNetworkRouter?

    init(router: PodNetworkRouter) {
        self.router = router
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        router?.send(unwrapInboundIn(data))
    }

    /// The device's packets of one read burst leave together.
    func channelReadComplete(context: ChannelHandlerContext) {
        router?.flush()
    }
}
