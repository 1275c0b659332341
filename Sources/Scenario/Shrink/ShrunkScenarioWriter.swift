import NetworkTopology
import Yams

/// Writes a shrunk scenario as a file a developer can commit as a regression scenario: the
/// original file with its faults, object changes, clients and expectations replaced by the
/// shrunk ones, its seed fixed, and `judgeFrom` where the chaos run was judged. The topology,
/// objects and servers are the original's, so the new file reads like the old one.
public enum ShrunkScenarioWriter {
    public static func yaml(original text: String, shrunk: Scenario, seed: UInt64, header: [String]) throws -> String {
        guard case .mapping(var root)? = try Yams.compose(yaml: text) else {
            throw ScenarioError(source: shrunk.source, field: "", message: "the original file is not a mapping")
        }
        root["name"] = Node("\(shrunk.name)-shrunk")
        root["seed"] = Node("\(seed)")
        root["chaos"] = nil
        root["lab"] = nil
        root["matrix"] = nil
        if let judgeFrom = shrunk.settlesAt { root["judgeFrom"] = Node(ScenarioValues.format(duration: judgeFrom)) }
        let kept = Set(shrunk.workloads.map(\.name))
        if case .sequence(let workloads)? = root["workloads"] {
            root["workloads"] = .sequence(Node.Sequence(workloads.filter { entry in
                entry.mapping?["name"]?.string.map(kept.contains) ?? true
            }))
        }
        let subjects = Set(shrunk.expectations.map(\.subject))
        if case .sequence(let expectations)? = root["expect"] {
            let entries = expectations.filter { entry in
                guard let mapping = entry.mapping else { return false }
                return (mapping["workload"]?.string ?? mapping["agent"]?.string).map(subjects.contains) ?? false
            }
            root["expect"] = entries.isEmpty ? nil : .sequence(Node.Sequence(entries))
        }
        root["faults"] = shrunk.faults.isEmpty ? nil : .sequence(Node.Sequence(shrunk.faults.map(node(for:))))
        root["changes"] = shrunk.changes.isEmpty ? nil : .sequence(Node.Sequence(try shrunk.changes.map(node(for:))))
        let body = try Yams.serialize(node: .mapping(root), width: 120)
        return header.map { "# \($0)" }.joined(separator: "\n") + "\n" + body
    }

    private static func duration(_ value: UInt64) -> Node { Node(ScenarioValues.format(duration: value)) }

    private static func mapping(_ pairs: [(String, Node)]) -> Node {
        .mapping(Node.Mapping(pairs.map { (Node($0.0), $0.1) }, .implicit, .flow))
    }

    private static func names(_ list: [String]) -> Node { .sequence(Node.Sequence(list.map { Node($0) }, .implicit, .flow)) }

    static func node(for fault: FaultSpec) -> Node {
        var pairs: [(String, Node)] = [("at", duration(fault.at))]
        if let lasting = fault.duration { pairs.append(("for", duration(lasting))) }
        switch fault.kind {
        case .partition(let a, let b, let oneWay):
            pairs.append(("partition", mapping([("a", names(a)), ("b", names(b))] + (oneWay ? [("oneWay", Node("true"))] : []))))
        case .isolate(let node): pairs.append(("isolate", Node(node)))
        case .linkDown(let node, let direction):
            pairs.append(("linkDown", mapping([("node", Node(node)), ("direction", Node(direction.rawValue))])))
        case .flap(let node, let down, let up):
            pairs.append(("flap", mapping([("node", Node(node)), ("down", duration(down)), ("up", duration(up))])))
        case .degrade(let node, let loss, let latency):
            pairs.append(("degrade", mapping([("node", Node(node)), ("loss", Node("\(loss)")), ("latency", duration(latency))])))
        case .clockSkew(let node, let offset):
            pairs.append(("clockSkew", mapping([("node", Node(node)), ("by", Node((offset < 0 ? "-" : "") + ScenarioValues.format(duration: offset.magnitude)))])))
        case .crash(let node): pairs.append(("crash", Node(node)))
        case .natReboot(let router): pairs.append(("natReboot", Node(router)))
        case .cloudUnreachable: pairs.append(("cloudUnreachable", Node("true")))
        case .addressDown(let node, let address):
            pairs.append(("addressDown", mapping([("node", Node(node)), ("address", Node(address.description))])))
        }
        return mapping(pairs)
    }

    static func node(for change: ObjectChangeSpec) throws -> Node {
        switch change.action {
        case .apply(let manifest):
            guard let object = try Yams.compose(yaml: manifest.yaml) else { return mapping([("at", duration(change.at))]) }
            return .mapping(Node.Mapping([(Node("at"), duration(change.at)), (Node("apply"), object)]))
        case .delete(let kind, let namespace, let name):
            return mapping([
                ("at", duration(change.at)),
                ("delete", mapping([("kind", Node(kind))] + (namespace.map { [("namespace", Node($0))] } ?? []) + [("name", Node(name))])),
            ])
        }
    }
}
