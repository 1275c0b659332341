/// Which node each pod network belongs to, worked out the same way by every agent from the
/// Node objects in its table (and so from its offline snapshot when the cloud is away).
///
/// A node's networks come from, in order: its `spec.podCIDRs` (or `spec.podCIDR`), as the node
/// IPAM controller or the operator set them; else its `edgemesh.io/pod-cidr` annotation (a
/// comma list); else one block of the `MeshCIDRConfiguration` pool of its kind. Only IPv4
/// networks are mapped.
///
/// - Overlaps: nodes are taken in name order; a network overlapping one an earlier node holds
///   is refused and listed in `conflicts`, never shared, so no address has two owners.
/// - Allocation: a node's block starts at a position its name hashes to (`StableHash`) and moves
///   to the next free block past any that overlaps a network already held. The same node set
///   gives the same blocks on every agent; a node that joins can move another only when both
///   names hash to one block, which writing the block to the annotation (or `spec.podCIDR`)
///   rules out. A node the pool has no room for is listed in `unassigned`.
public struct PodNetworkMap: Hashable, Sendable {
    public enum Source: String, Hashable, Sendable {
        case nodeSpec = "spec.podCIDR"
        case annotation = "edgemesh.io/pod-cidr"
        case allocated = "meshCIDRConfig"
    }

    public struct Assignment: Hashable, Sendable {
        public let network: IPv4Prefix
        public let node: String
        public let source: Source
    }

    /// A network a node named that an earlier node already holds part of.
    public struct Conflict: Hashable, Sendable {
        public let node: String
        public let network: IPv4Prefix
        public let heldBy: String
    }

    /// How many blocks one allocation looks at before the node is left unassigned.
    static let maximumProbes: UInt64 = 1 << 16

    /// The annotation an agent may write on its own Node to keep its pod network.
    public static let annotation = "edgemesh.io/pod-cidr"

    /// Every assignment, longest prefix first (the order `node(owning:)` searches).
    public private(set) var assignments: [Assignment] = []
    public private(set) var conflicts: [Conflict] = []
    /// Nodes left without a network: none named and no room (or no pool) to allocate one.
    public private(set) var unassigned: [String] = []

    public init() {}

    public init(nodes: [Node], meshCIDRs: MeshCIDRConfiguration? = nil) {
        let sorted = nodes.sorted { $0.name < $1.name }
        var needingBlocks: [Node] = []
        for node in sorted {
            let named = Self.namedNetworks(of: node)
            guard !named.networks.isEmpty else {
                needingBlocks.append(node)
                continue
            }
            for network in named.networks { claim(network, for: node.name, source: named.source) }
        }
        for node in needingBlocks {
            guard let meshCIDRs, let block = freeBlock(for: node.name, in: meshCIDRs.pool(for: node), size: meshCIDRs.nodeMaskSize) else {
                unassigned.append(node.name)
                continue
            }
            claim(block, for: node.name, source: .allocated)
        }
        assignments.sort { ($0.network.length, $1.network.network.value) > ($1.network.length, $0.network.network.value) }
    }

    /// The node whose pod network holds `address`, if any.
    public func node(owning address: IPv4Address) -> String? {
        assignments.first { $0.network.contains(address) }?.node
    }

    /// A node's pod networks, in the order they were assigned.
    public func networks(of node: String) -> [IPv4Prefix] {
        assignments.filter { $0.node == node }.map(\.network).sorted { $0.network.value < $1.network.value }
    }

    // MARK: Building

    private static func namedNetworks(of node: Node) -> (networks: [IPv4Prefix], source: Source) {
        let fromSpec = node.podNetworks
        if !fromSpec.isEmpty { return (fromSpec, .nodeSpec) }
        return (IPv4Prefix.list(node.metadata.annotations[annotation] ?? "").networks, .annotation)
    }

    private mutating func claim(_ network: IPv4Prefix, for node: String, source: Source) {
        if let holder = assignments.first(where: { $0.node != node && $0.network.overlaps(network) }) {
            conflicts.append(Conflict(node: node, network: network, heldBy: holder.node))
            return
        }
        guard !assignments.contains(where: { $0.node == node && $0.network == network }) else { return }
        assignments.append(Assignment(network: network, node: node, source: source))
    }

    /// The first block, from the one `node` hashes to onwards, that overlaps nothing held.
    private func freeBlock(for node: String, in pool: [IPv4Prefix], size: Int) -> IPv4Prefix? {
        // Each pool network holds 2^(size - length) blocks; one shorter than a block is one block.
        let counts = pool.map { network in UInt64(1) << UInt64(max(0, size - network.length)) }
        let total = counts.reduce(0, +)
        guard total > 0 else { return nil }
        let start = StableHash.hash(node) % total
        var probed: UInt64 = 0
        // A pool mostly covered by networks named outright is searched only so far, so that an
        // absurd configuration (a /0 in /32 blocks) cannot stall the agent.
        while probed < min(total, Self.maximumProbes) {
            var index = (start + probed) % total
            probed += 1
            for (network, count) in zip(pool, counts) {
                guard index >= count else {
                    let length = max(size, network.length)
                    let block = IPv4Prefix(network: network.address(at: UInt32(index) << UInt32(32 - length)), length: length)
                    if !assignments.contains(where: { $0.network.overlaps(block) }) { return block }
                    break
                }
                index -= count
            }
        }
        return nil
    }
}

extension PodNetworkMap {
    /// For `edgemesh status`: each node's networks and where they came from, then every refused
    /// network and every node left without one.
    public var statusLines: [String] {
        var lines: [String] = []
        var byNode: [String: [Assignment]] = [:]
        for assignment in assignments { byNode[assignment.node, default: []].append(assignment) }
        for node in byNode.keys.sorted() {
            let networks = byNode[node]!.sorted { $0.network.network.value < $1.network.network.value }
                .map { "\($0.network) (\($0.source.rawValue))" }
            lines.append("pod network: \(node) \(networks.joined(separator: ", "))")
        }
        for conflict in conflicts {
            lines.append("pod network refused: \(conflict.node) \(conflict.network) overlaps \(conflict.heldBy)'s")
        }
        if !unassigned.isEmpty {
            lines.append("no pod network (none named, no room in the pool): \(unassigned.joined(separator: ", "))")
        }
        return lines.isEmpty ? ["pod networks: none known"] : lines
    }
}
