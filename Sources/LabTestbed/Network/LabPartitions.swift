/// Partitions on namespaces, as the simulator has them: a packet is dropped where it arrives
/// (at a node or a router) when the node that first sent it is on the other side, however many
/// NATs it crossed on the way.
///
/// A kernel cannot tell a packet's origin once a NAT has rewritten its source, so each node and
/// router a partition of the run names marks everything it sends with a DSCP value of its own
/// (1 to 63), which forwarding and NAT leave alone; a partition then drops, at each member of
/// one side, what arrives with the mark of a member of the other. Each partition is a table of
/// its own in every namespace it touches, so overlapping partitions heal independently.
final class LabPartitions {
    /// DSCP has six bits and 0 is everyone else's traffic.
    static let maximumMarkedMembers = 63

    private let network: LabNetwork
    /// The DSCP value each member sends with.
    private let marks: [String: Int]
    /// The namespaces each partition in force has a table in, by id.
    private var installed: [Int: [String]] = [:]

    /// Marks what each of `members` (nodes and routers of the run) sends from now on.
    init(marking members: Set<String>, network: LabNetwork) throws {
        self.network = network
        let ordered = members.filter { network.namespace(of: $0) != nil }.sorted()
        guard ordered.count <= Self.maximumMarkedMembers else {
            throw LabError(
                "partitions name \(ordered.count) nodes and routers; the lab tells at most \(Self.maximumMarkedMembers) apart (by DSCP)")
        }
        marks = Dictionary(uniqueKeysWithValues: ordered.enumerated().map { ($1, $0 + 1) })
        for member in ordered {
            let script = "table ip lab_origin {\nchain output { type filter hook output priority mangle; ip dscp set \(marks[member]!); }\n}\n"
            try LabShell.run(["nft", "-f", "-"], input: script, in: network.namespace(of: member)!)
        }
    }

    /// Drops what members of `a` send to members of `b`, and back unless `oneWay`, until
    /// `heal(id)`.
    func cut(_ a: Set<String>, from b: Set<String>, oneWay: Bool, id: Int) throws {
        var namespaces: [String] = []
        installed[id] = []
        let directions = oneWay ? [(a, b)] : [(a, b), (b, a)]
        for (senders, receivers) in directions {
            let senderMarks = senders.compactMap { marks[$0] }.sorted()
            guard !senderMarks.isEmpty else { continue }
            for receiver in receivers.sorted() {
                guard let namespace = network.namespace(of: receiver) else { continue }
                let script = "table ip lab_partition_\(id) {\nchain arrive { type filter hook prerouting priority raw; "
                    + "iifname != \"lo\" ip dscp { \(senderMarks.map(String.init).joined(separator: ", ")) } drop; }\n}\n"
                try LabShell.run(["nft", "-f", "-"], input: script, in: namespace)
                namespaces.append(namespace)
                installed[id] = namespaces
            }
        }
    }

    /// Lets partition `id` through again.
    func heal(_ id: Int) throws {
        for namespace in installed.removeValue(forKey: id) ?? [] {
            try LabShell.run(["nft", "delete", "table", "ip", "lab_partition_\(id)"], in: namespace)
        }
    }
}
