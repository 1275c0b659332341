import Foundation
import Mesh
import NetworkTopology
import Yams

// MARK: - Faults

extension ScenarioReader {
    static let faultKinds = [
        "partition", "isolate", "linkDown", "flap", "degrade", "clockSkew", "crash", "natReboot", "cloudUnreachable", "addressDown",
    ]

    func fault(_ item: LocatedNode, names: TopologyNames, duration: UInt64) throws(ScenarioError) -> FaultSpec {
        let fields = try self.fields(item, allowed: ["at", "for"] + Self.faultKinds)
        let atValue = try required(fields, "at")
        let at = try self.duration(atValue)
        if at >= duration {
            throw fail(
                atValue,
                "\(ScenarioValues.format(duration: at)) is not before the end of the run "
                    + "(duration \(ScenarioValues.format(duration: duration)))")
        }
        var lasting: UInt64?
        if let value = fields["for"] { lasting = try self.duration(value, positive: true) }
        let kinds = fields.keys.filter { Self.faultKinds.contains($0) }
        guard kinds.count == 1, let kindName = kinds.first, let value = fields[kindName] else {
            let given = kinds.isEmpty ? "no fault kind" : "\(kinds.map { "\"\($0)\"" }.joined(separator: " and ")) in one fault"
            throw fail(item, "\(given): give exactly one of \(Self.faultKinds.joined(separator: ", "))")
        }
        let kind: FaultSpec.Kind
        switch kindName {
        case "partition":
            let partition = try self.fields(value, allowed: ["a", "b", "oneWay"])
            let a = try group(required(partition, "a"), names: names)
            let b = try group(required(partition, "b"), names: names)
            if let shared = a.first(where: { b.contains($0) }) {
                throw fail(try required(partition, "b"), "\"\(shared)\" is in both groups a and b")
            }
            var oneWay = false
            if let value = partition["oneWay"] { oneWay = try bool(value) }
            kind = .partition(a: a, b: b, oneWay: oneWay)
        case "isolate":
            kind = .isolate(node: try reference(value, to: [.node], in: names))
        case "crash":
            kind = .crash(node: try reference(value, to: [.node], in: names))
        case "linkDown":
            let link = try self.fields(value, allowed: ["node", "direction"])
            var direction = LinkDirection.both
            if let value = link["direction"] { direction = try choice(value, "a link direction") }
            kind = .linkDown(node: try reference(required(link, "node"), to: [.node, .router], in: names), direction: direction)
        case "flap":
            let flap = try self.fields(value, allowed: ["node", "down", "up"])
            kind = .flap(
                node: try reference(required(flap, "node"), to: [.node, .router], in: names),
                down: try self.duration(required(flap, "down"), positive: true),
                up: try self.duration(required(flap, "up"), positive: true))
        case "degrade":
            let degrade = try self.fields(value, allowed: ["node", "loss", "latency"])
            let loss = try degrade["loss"].map { v throws(ScenarioError) in try probability(v) } ?? 0
            let latency = try degrade["latency"].map { v throws(ScenarioError) in try self.duration(v) } ?? 0
            guard loss > 0 || latency > 0 else { throw fail(value, "a degraded link needs loss, latency or both") }
            kind = .degrade(node: try reference(required(degrade, "node"), to: [.node, .router], in: names), loss: loss, latency: latency)
        case "clockSkew":
            let skew = try self.fields(value, allowed: ["node", "by"])
            kind = .clockSkew(node: try reference(required(skew, "node"), to: [.node], in: names), offset: try signedDuration(required(skew, "by")))
        case "addressDown":
            let down = try self.fields(value, allowed: ["node", "address"])
            kind = .addressDown(node: try reference(required(down, "node"), to: [.node], in: names), address: try address(required(down, "address")))
        case "natReboot":
            let router = try reference(value, to: [.router], in: names)
            guard names.natRouters.contains(router) else {
                throw fail(
                    value,
                    "\"\(router)\" is a plain router without nat; natReboot needs a NAT router (known: "
                        + "\(names.natRouters.isEmpty ? "none" : names.natRouters.sorted().joined(separator: ", ")))")
            }
            if let value = fields["for"] {
                throw fail(value, "a NAT reboot is instantaneous (its mappings are lost at once); remove for")
            }
            kind = .natReboot(router: router)
        default:
            guard try bool(value) else {
                throw fail(value, "cloudUnreachable takes only true; remove the fault to leave the cloud reachable")
            }
            guard !names.cloudNetworks.isEmpty else {
                throw fail(value, "no network is marked cloud: true; mark the cloud side's networks first")
            }
            kind = .cloudUnreachable
        }
        return FaultSpec(at: at, duration: lasting, kind: kind)
    }

    /// A duration that may start with "-" (a clock behind the others).
    private func signedDuration(_ value: LocatedNode) throws(ScenarioError) -> Int64 {
        let text = try scalar(value, "a duration, \"-\" first for behind (\(ScenarioValues.durationHint))")
        let negative = text.hasPrefix("-")
        guard let magnitude = ScenarioValues.duration(negative ? String(text.dropFirst()) : text), magnitude < UInt64(Int64.max) else {
            throw fail(value, "\"\(text)\" is not a duration (\(ScenarioValues.durationHint), \"-\" first for behind)")
        }
        return negative ? -Int64(magnitude) : Int64(magnitude)
    }

    /// A partition group: a list of node, router or network names (or a single name).
    private func group(_ value: LocatedNode, names: TopologyNames) throws(ScenarioError) -> [String] {
        let items: [LocatedNode]
        if case .scalar = value.node, !value.node.isNull { items = [value] } else { items = try list(value, of: "names") }
        guard !items.isEmpty else { throw fail(value, "needs at least one node, router or network") }
        var group: [String] = []
        for item in items {
            let name = try reference(item, to: [.node, .router, .network], in: names)
            if group.contains(name) { throw fail(item, "\"\(name)\" is listed twice") }
            group.append(name)
        }
        return group
    }
}
