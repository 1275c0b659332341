import Mesh
import NIOCore

/// A machine in the simulation: a host (which runs a kernel and the mesh) or a router (which
/// forwards and may NAT).
public final class SimNode {
    public enum Role: Sendable {
        case host
        case router
    }

    public let id: NodeID
    public let name: String
    public let role: Role
    var interfaces: [SimInterface] = []
    let loop: SimEventLoop
    public internal(set) var isPoweredOn = true

    // Routers only.
    var insideInterface = -1
    var upstreamInterface = -1
    var nat: NATDevice?

    // Hosts only.
    var kernel: SimKernel?
    public internal(set) var host: SimHost?
    /// How late the host's stack takes arriving packets; `nil` for an ideal host.
    var stackDelay: HostStackDelay?
    /// Nanoseconds the host's wall clock runs ahead of the others (behind when negative).
    var clockSkew: Int64 = 0

    /// The interface on the node's pod network (`cni0`), for a node with pods of its own.
    var podInterface: Int?
    /// The packet interface the agent opened (`Host.openPacketInterface`), while it is open.
    var packetDevice: SimPacketDevice?
    /// Whether packets for addresses not its own may pass through the node: to its pods, or
    /// into its packet interface.
    var forwardsPackets: Bool { podInterface != nil || packetDevice != nil }

    /// Addresses besides each interface's own, on the network of interface 0: an interface
    /// named as one of the node's (an alias) or a NIC of its own on the same LAN.
    var secondaryAddresses: [(interface: String, address: IPv4Address)] = []
    /// Addresses on devices of the node's own that no network is attached to (the agent's
    /// `edgemesh0` dummy device): the node and what it routes for (its pods) reach them.
    var deviceAddresses: [(device: String, address: IPv4Address)] = []
    /// Told when an address is added or removed, by token.
    var addressWatchers: [Int: @Sendable () -> Void] = [:]
    var nextWatcherToken = 0

    /// Called with every packet the node sends or receives, at virtual time (pcap capture).
    var capture: ((Packet, UInt64) -> Void)?
    /// Routers: called with the payload of every packet forwarded (the invariant checks).
    var forwardWatch: ((String, ByteBuffer) -> Void)?

    init(id: NodeID, name: String, role: Role, loop: SimEventLoop) {
        self.id = id
        self.name = name
        self.role = role
        self.loop = loop
    }

    public var addresses: [IPv4Address] { interfaces.map(\.address) }

    /// Whether this is a router that translates addresses (a `nat` fault can reboot it).
    public var isNATRouter: Bool { nat != nil }

    func owns(_ address: IPv4Address) -> Bool {
        address.isLoopback || interfaces.contains { $0.address == address } || secondaryAddresses.contains { $0.address == address }
            || deviceAddresses.contains { $0.address == address }
    }
}

/// A node's attachment to a network, with the link in each direction.
final class SimInterface {
    let name: String
    let network: Int
    let address: IPv4Address
    let prefixLength: Int
    /// Node to network.
    let up: OneWayLink
    /// Network to node.
    let down: OneWayLink

    init(name: String, network: Int, address: IPv4Address, prefixLength: Int, up: OneWayLink, down: OneWayLink) {
        self.name = name
        self.network = network
        self.address = address
        self.prefixLength = prefixLength
        self.up = up
        self.down = down
    }
}
