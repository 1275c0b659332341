import Mesh
import NIOCore
import NetworkTopology

/// Faults the simulator can inject, by name, at the current virtual time. Each one is
/// recorded in the trace.
extension Simulator {
    /// The nodes a name stands for: a node or router itself, or every node on a network and on
    /// the networks behind it.
    public func nodes(named names: [String]) throws -> Set<NodeID> {
        Set(try topology.members(of: names).map { nodesByName[$0]! })
    }

    /// Drops packets from `a` to `b` (and back unless `oneWay`) until `heal(partition:)`.
    @discardableResult
    public func partition(_ a: [String], from b: [String], oneWay: Bool = false) throws -> Int {
        let id = (partitions.map(\.id).max() ?? 0) + 1
        partitions.append(Partition(id: id, a: try nodes(named: a), b: try nodes(named: b), oneWay: oneWay))
        trace.recordFault(at: now, "partition #\(id) \(a) \(oneWay ? "->" : "<->") \(b)")
        return id
    }

    public func heal(partition id: Int) {
        partitions.removeAll { $0.id == id }
        trace.recordFault(at: now, "heal partition #\(id)")
    }

    /// Everything on `cloud: true` networks is cut off from everything else.
    @discardableResult
    public func makeCloudUnreachable() throws -> Int {
        let cloud = topology.networks.filter(\.isCloud).map(\.name)
        guard !cloud.isEmpty else { throw TopologyError("no network is marked cloud") }
        let cloudNodes = try nodes(named: cloud)
        let others = nodes.map(\.name).filter { nodesByName[$0].map { !cloudNodes.contains($0) } ?? false }
        return try partition(cloud, from: others)
    }

    /// Takes a node's link (a router's WAN link) down or up in `direction`.
    public func setLink(of name: String, direction: LinkDirection, up: Bool) throws {
        let interface = try faultableInterface(of: name)
        if direction != .down { interface.up.isUp = up }
        if direction != .up { interface.down.isUp = up }
        trace.recordFault(at: now, "link \(name) \(direction) \(up ? "up" : "down")")
    }

    /// A node's link (a router's WAN link) loses `loss` more of its packets and delays each by
    /// `latency` more, both ways: a loss burst or a latency spike. Zero for both restores it.
    public func degradeLink(of name: String, loss: Double, latency: UInt64) throws {
        let interface = try faultableInterface(of: name)
        for link in [interface.up, interface.down] {
            link.extraLoss = loss
            link.extraLatency = latency
        }
        trace.recordFault(at: now, "link \(name) degraded loss=\(loss) latency=\(latency)")
    }

    /// The link faults act on: a node's own, a router's WAN side.
    private func faultableInterface(of name: String) throws -> SimInterface {
        guard let node = node(named: name) else { throw TopologyError("unknown node or router \"\(name)\"") }
        return node.interfaces[node.role == .router ? node.upstreamInterface : 0]
    }

    /// The host's wall clock runs `offset` nanoseconds off the others' (0 puts it right).
    public func skewClock(of name: String, by offset: Int64) throws {
        guard let node = node(named: name), node.host != nil else { throw TopologyError("unknown node \"\(name)\"") }
        node.clockSkew = offset
        trace.recordFault(at: now, "clock \(name) skew \(offset)")
    }

    /// The node loses power: its sockets, connections and pending timers are gone (no FIN, no
    /// RST); its durable store stays.
    public func crash(_ name: String) throws {
        guard let node = node(named: name) else { throw TopologyError("unknown node \"\(name)\"") }
        guard node.isPoweredOn else { return }
        node.isPoweredOn = false
        node.loop.discardPendingWork()
        node.kernel?.forgetEverything()
        // Its processes die with it, and their address subscriptions (netlink sockets) too.
        node.addressWatchers = [:]
        // A TUN device lives as long as the process holding it.
        node.packetDevice?.remove()
        // So does a dummy device: whoever made it makes it again at boot.
        node.deviceAddresses = []
        trace.recordFault(at: now, "crash \(name)")
    }

    /// The node boots again; its boot handlers (the workloads) start afresh.
    public func boot(_ name: String) throws {
        guard let node = node(named: name) else { throw TopologyError("unknown node \"\(name)\"") }
        guard !node.isPoweredOn else { return }
        node.isPoweredOn = true
        trace.recordFault(at: now, "boot \(name)")
        if let host = node.host { for handler in bootHandlers[node.id] ?? [] { handler(host) } }
    }

    /// Registers what runs on a host at every boot (and runs it now if the host is up).
    public func onBoot(of name: String, _ handler: @escaping (SimHost) -> Void) throws {
        guard let node = node(named: name), let host = node.host else { throw TopologyError("unknown node \"\(name)\"") }
        bootHandlers[node.id, default: []].append(handler)
        if node.isPoweredOn { handler(host) }
    }

    /// Calls `body` with each router's name and the payload of every packet it forwards, before
    /// NAT rewrites it.
    public func watchForwarding(_ body: @escaping (String, ByteBuffer) -> Void) {
        for node in nodes where node.role == .router { node.forwardWatch = body }
    }

    /// The NAT forgets every mapping.
    public func rebootNAT(_ name: String) throws {
        guard let nat = node(named: name)?.nat else { throw TopologyError("\"\(name)\" is not a NAT router") }
        nat.reboot()
        trace.recordFault(at: now, "nat-reboot \(name)")
    }
}
