import Mesh
import NetworkTopology

/// Addresses added to and removed from a host while the simulation runs, as `ip addr add` and
/// DHCP do on a real one: the network delivers to an added address at once, and the host's
/// watchers (the agent's listeners) are told.
extension Simulator {
    /// Gives `node` the address `address` on the interface named `interface`, in the network of
    /// its first interface. Fails when another node (or this one) holds the address already.
    public func addAddress(_ address: IPv4Address, interface: String, toNode name: String) throws(TopologyError) {
        guard let node = node(named: name), node.role == .host else { throw TopologyError("no host named \"\(name)\"") }
        let network = networks[node.interfaces[0].network]
        guard network.subnet.contains(address) else {
            throw TopologyError("\(address) is not in \(node.name)'s network \(network.subnet)")
        }
        guard network.attachments[address.value] == nil else { throw TopologyError("\(address) is already in use") }
        addAddress(address, interface: interface, to: node)
    }

    /// The node's secondary addresses now, with their interfaces.
    public func secondaryAddresses(ofNode name: String) -> [(interface: String, address: IPv4Address)] {
        node(named: name)?.secondaryAddresses ?? []
    }

    /// Takes `address` off `node`; sockets bound to it stay open but nothing reaches them.
    public func removeAddress(_ address: IPv4Address, fromNode name: String) throws(TopologyError) {
        guard let node = node(named: name), node.secondaryAddresses.contains(where: { $0.address == address }) else {
            throw TopologyError("\(address) is not a secondary address of \(name)")
        }
        node.secondaryAddresses.removeAll { $0.address == address }
        networks[node.interfaces[0].network].attachments[address.value] = nil
        notifyAddressWatchers(of: node)
    }

    /// Gives `node` a device of its own holding `address`, as `ip link add <device> type dummy`
    /// and `ip addr add` do: no network is attached to it, so only the node and the pods it
    /// routes for reach the address (the agent's link-local listen address on `edgemesh0`).
    public func addDeviceAddress(_ address: IPv4Address, device: String, toNode name: String) throws(TopologyError) {
        guard let node = node(named: name), node.role == .host else { throw TopologyError("no host named \"\(name)\"") }
        guard !node.owns(address) else { throw TopologyError("\(name) already holds \(address)") }
        node.deviceAddresses.append((device, address))
        notifyAddressWatchers(of: node)
    }

    func addAddress(_ address: IPv4Address, interface: String, to node: SimNode) {
        node.secondaryAddresses.append((interface, address))
        networks[node.interfaces[0].network].attachments[address.value] = SimNetwork.Attachment(node: node.id, interface: 0)
        notifyAddressWatchers(of: node)
    }

    private func notifyAddressWatchers(of node: SimNode) {
        // On the node's own loop, as a netlink event reaches the agent.
        for token in node.addressWatchers.keys.sorted() {
            guard let watcher = node.addressWatchers[token] else { continue }
            node.loop.execute { watcher() }
        }
    }
}
