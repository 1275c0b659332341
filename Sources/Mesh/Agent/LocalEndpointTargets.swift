import NIOCore

/// The agent's tunnel target policy: a peer may reach only an endpoint of a service in this
/// node's table that runs on this node (a pod IP, or the node's own address for a hostNetwork
/// endpoint), on the port and transport the service routes to. Never loopback, link-local,
/// multicast or the agent's own ports on the node's addresses, whatever the table says: a
/// manifest naming those would otherwise open them to every PSK holder.
///
/// The allowed endpoints are worked out again only when the table's revision moves. Confined to
/// the host's event loop.
///
/// With the SOCKS5 node proxy on, `nodePorts` (TCP, SSH by default) of the node's own
/// addresses are allowed too: what an operator reaches through another node's proxy.
final class LocalEndpointTargets: @unchecked Sendable {
    private let table: ServiceTable
    private let host: any Host
    private let reservedPorts: Set<UInt16>
    private let nodePorts: Set<UInt16>
    private var allowed: Set<ProxiedAddress> = []
    private var allowedRevision: UInt64?

    /// `reservedPorts` are the agent's own ports (tunnel, relay and punch, DNS, status), never
    /// dialled on the node's own addresses.
    init(table: ServiceTable, host: any Host, reservedPorts: Set<UInt16>, nodePorts: Set<UInt16> = []) {
        self.nodePorts = nodePorts
        self.table = table
        self.host = host
        self.reservedPorts = reservedPorts
    }

    var policy: TunnelTargetPolicy {
        TunnelTargetPolicy { [self] target, localNode in refusal(for: target, localNode: localNode) }
    }

    func refusal(for target: TunnelTarget, localNode: String) -> String? {
        let address = target.address
        guard target.node == localNode else {
            return "the stream asked for node \"\(target.node)\" but reached node \"\(localNode)\""
        }
        if address.isLoopback { return "\(address) is a loopback address" }
        if address.isLinkLocal { return "\(address) is a link-local address" }
        if address.isUnspecified || address.isMulticastOrReserved { return "\(address) is not a unicast address" }
        // The port first: listing the interfaces is a system call on Linux.
        if reservedPorts.contains(target.port), host.interfaces.contains(where: { $0.ipv4Addresses.contains(address) }) {
            return "\(address):\(target.port) is one of the agent's own ports"
        }
        if target.transport == .tcp, nodePorts.contains(target.port),
            host.interfaces.contains(where: { $0.ipv4Addresses.contains(address) })
        {
            return nil
        }
        guard allowedEndpoints(localNode: localNode).contains(ProxiedAddress(transport: target.transport, address: address, port: target.port))
        else {
            return "no service in this node's table has an endpoint \(target.transport) \(address):\(target.port) on node \(localNode)"
        }
        return nil
    }

    private func allowedEndpoints(localNode: String) -> Set<ProxiedAddress> {
        if allowedRevision == table.revision { return allowed }
        var endpoints: Set<ProxiedAddress> = []
        for route in ProxyRoute.routes(in: table) {
            for backend in route.backends(in: table, node: localNode) where backend.nodeName == localNode {
                endpoints.insert(ProxiedAddress(transport: route.address.transport, address: backend.address, port: backend.port))
            }
        }
        allowed = endpoints
        allowedRevision = table.revision
        return endpoints
    }
}
