import Mesh

/// A LAN (or the internet) at run time: who is attached at which address, and where packets
/// for other destinations go.
final class SimNetwork {
    struct Attachment {
        var node: NodeID
        var interface: Int
    }

    struct Route {
        var prefix: IPv4Prefix
        var via: Attachment
    }

    let index: Int
    let name: String
    let subnet: IPv4Prefix
    let isCloud: Bool
    var attachments: [UInt32: Attachment] = [:]
    /// The router whose inside this network is: the way out. `nil` for the root.
    var gateway: Attachment?
    /// Prefixes behind plain (non-NAT) routers attached here.
    var routes: [Route] = []

    init(index: Int, name: String, subnet: IPv4Prefix, isCloud: Bool) {
        self.index = index
        self.name = name
        self.subnet = subnet
        self.isCloud = isCloud
    }

    /// The subnet's broadcast address (all host bits set).
    var broadcastAddress: IPv4Address { subnet.address(at: UInt32(truncatingIfNeeded: subnet.size - 1)) }

    /// The next hop for `destination` on this network, never `excluding` (the node that handed
    /// the packet over, so packets do not bounce).
    @inline(__always)
    func nextHop(for destination: IPv4Address, excluding: NodeID) -> Attachment? {
        if let direct = attachments[destination.value] { return direct }
        for route in routes where route.prefix.contains(destination) && route.via.node != excluding {
            return route.via
        }
        if let gateway, gateway.node != excluding { return gateway }
        return nil
    }
}
