import Mesh
import NIOCore

/// A simulated node's packet interface: the prefixes routed into it and the channel the agent
/// reads and writes packets on (see `Host.openPacketInterface`).
///
/// Packets the node sends or forwards to a routed prefix are encoded as IPv4 bytes and read
/// from the channel; bytes written to it are decoded and routed as if they had arrived on a
/// device: to the node's pods, or to the node itself. The simulator carries TCP and UDP, so
/// other protocols written to the device are dropped (traced `unsupported-protocol`).
final class SimPacketDevice: PacketInterface, @unchecked Sendable {
    private unowned let simulator: Simulator
    private unowned let node: SimNode
    private let packetChannel: SimPacketChannel
    let options: PacketInterfaceOptions
    private(set) var routes: [IPv4Prefix] = []

    init(simulator: Simulator, node: SimNode, kernel: SimKernel, options: PacketInterfaceOptions) {
        self.simulator = simulator
        self.node = node
        self.options = options
        self.packetChannel = SimPacketChannel(kernel: kernel, parent: nil)
        packetChannel.device = self
    }

    var channel: Channel { packetChannel }

    func start() {
        node.packetDevice = self
        packetChannel.start()
    }

    func route(_ prefixes: [IPv4Prefix]) -> EventLoopFuture<Void> {
        let own = node.interfaces.map { IPv4Prefix(network: $0.address, length: $0.prefixLength) }
        for prefix in prefixes {
            if let clash = own.first(where: { $0.overlaps(prefix) }) {
                return channel.eventLoop.makeFailedFuture(
                    HostError.routeRejected("\(prefix) overlaps the node's own network \(clash)"))
            }
        }
        routes = prefixes
        return channel.eventLoop.makeSucceededVoidFuture()
    }

    /// Whether a packet for `address` leads into the device.
    @inline(__always)
    func claims(_ address: IPv4Address) -> Bool {
        routes.contains { $0.contains(address) }
    }

    /// The node routed `packet` into the device.
    func deliver(_ packet: Packet) {
        guard let bytes = try? IPPacketCodec.encode(packet, allocator: packetChannel.allocator) else {
            simulator.drop(packet, at: node, reason: "not-encodable")
            return
        }
        packetChannel.receive(bytes)
    }

    /// The agent wrote `bytes` to the device.
    func send(_ bytes: ByteBuffer) {
        simulator.routeFromDevice(bytes, at: node)
    }

    /// The channel closed, or the node lost power: the routes go with the device.
    func remove() {
        routes = []
        if node.packetDevice === self { node.packetDevice = nil }
    }

    var droppedPackets: Int { packetChannel.droppedPackets }

    /// The simulated device has no offloads; what it drops is what its queue had no room for.
    var statistics: PacketInterfaceStatistics {
        PacketInterfaceStatistics(droppedReads: UInt64(packetChannel.droppedPackets))
    }
}
