import Foundation
import Mesh
import Yams

/// Reads scenario files (YAML, see DESIGN.md "Scenario files") into a validated `Scenario`.
///
/// Strict on purpose: an unknown key, a value of the wrong syntax or a reference to something
/// that does not exist is an error naming the file, the line, the field and what is allowed, because
/// a typo that silently does nothing makes a scenario pass for the wrong reason.
public enum ScenarioParser {
    /// Reads and parses the file at `path`; `manifests` entries are relative to its directory.
    public static func load(path: String) throws(ScenarioError) -> Scenario {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ScenarioError(source: path, field: "", message: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(yaml: text, source: path)
    }

    /// Parses scenario text; `source` names it in messages and its directory is where
    /// `manifests` entries are looked up.
    public static func parse(yaml: String, source: String) throws(ScenarioError) -> Scenario {
        try parse(yaml: yaml, source: source, baseDirectory: directory(of: source))
    }

    /// Parses scenario text whose `manifests` entries are relative to `baseDirectory`.
    public static func parse(yaml: String, source: String, baseDirectory: String) throws(ScenarioError) -> Scenario {
        let root: Yams.Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw malformed(error, text: yaml, source: source, field: "")
        }
        guard let root, !root.isNull else {
            throw ScenarioError(
                source: source, field: "",
                message: "the file is empty; a scenario needs at least \(Reader.requiredTopLevelKeys.joined(separator: ", "))")
        }
        let reader = Reader(source: source, baseDirectory: baseDirectory)
        return try reader.scenario(Value(node: root, path: ""))
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// A YAML syntax error as a scenario error with the line libyaml reported.
    fileprivate static func malformed(_ error: any Error, text: String, source: String, field: String) -> ScenarioError {
        guard let yamlError = error as? YamlError else {
            return ScenarioError(source: source, field: field, message: "malformed YAML: \(error)")
        }
        switch yamlError {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
            let .composer(context, problem, mark, _):
            var message = "malformed YAML: \(problem)"
            if let context { message += " (\(context.text) at line \(context.mark.line))" }
            return ScenarioError(source: source, field: field, line: mark.line, message: message)
        case let .reader(problem, offset, _, _):
            let line = offset.map { offset in text.utf8.prefix(offset).reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } }
            return ScenarioError(source: source, field: field, line: line, message: "malformed YAML: \(problem)")
        default:
            return ScenarioError(source: source, field: field, message: "malformed YAML: \(yamlError)")
        }
    }
}

// MARK: - Reading YAML nodes

/// A YAML node and the field path it was found at ("network.nodes[2].network").
private struct Value {
    let node: Yams.Node
    let path: String

    var line: Int? { node.mark?.line }

    func child(_ key: String, _ node: Yams.Node) -> Value {
        Value(node: node, path: path.isEmpty ? key : "\(path).\(key)")
    }

    func element(_ index: Int, _ node: Yams.Node) -> Value {
        Value(node: node, path: "\(path)[\(index)]")
    }
}

/// The entries of one YAML mapping in document order, merge keys (`<<: *anchor`) expanded.
private struct Fields {
    let value: Value
    /// `keyLine` is where the key is written, for errors about the key rather than its value.
    let entries: [(key: String, keyLine: Int?, node: Yams.Node)]

    var keys: [String] { entries.map(\.key) }

    subscript(key: String) -> Value? {
        entries.first { $0.key == key }.map { value.child(key, $0.node) }
    }
}

extension Yams.Node {
    fileprivate var isNull: Bool {
        if case .scalar = self { return tag == Tag(.null) }
        return false
    }

    /// How the node looks, for "expected X, found Y".
    fileprivate var summary: String {
        switch self {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let scalar): return isNull ? "no value" : "\"\(scalar.string)\""
        }
    }
}

/// What a name in the topology stands for.
private enum Entity: String {
    case network, router, node
}

/// The topology's names by kind, for checking references from workloads and faults.
private struct TopologyNames {
    var kinds: [String: Entity] = [:]
    var natRouters: Set<String> = []
    var cloudNetworks: [String] = []

    func known(_ kinds: Set<Entity>) -> [String] {
        self.kinds.filter { kinds.contains($0.value) }.map(\.key).sorted()
    }
}

/// The workloads by name, for checking references from expectations.
private struct WorkloadIndex {
    var byName: [String: WorkloadSpec] = [:]

    var clientsAndPeers: [String] {
        byName.values.filter { $0.isClient || $0.isPunchPeer }.map(\.name).sorted()
    }

    var podNames: [String] {
        byName.values.compactMap { workload -> String? in
            if case .httpServer(_, let podName) = workload.kind { return podName }
            return nil
        }.sorted()
    }
}

extension WorkloadSpec {
    fileprivate var isClient: Bool {
        if case .client = kind { return true }
        return false
    }

    fileprivate var isPunchPeer: Bool {
        if case .punchPeer = kind { return true }
        return false
    }

    /// The kind as scenario files spell it.
    fileprivate var kindName: String {
        switch kind {
        case .httpServer: return "http-server"
        case .tcpEcho: return "tcp-echo"
        case .udpEcho: return "udp-echo"
        case .webSocketEcho: return "websocket-echo"
        case .client: return "client"
        case .rendezvous: return "rendezvous"
        case .punchPeer: return "punch-peer"
        }
    }
}

/// Walks the document. Every method names the field it failed on.
private struct Reader {
    static let requiredTopLevelKeys = ["name", "duration", "network"]
    static let topLevelKeys = requiredTopLevelKeys + [
        "description", "seed", "kubernetes", "manifests", "workloads", "faults", "expect",
    ]

    let source: String
    let baseDirectory: String

    func fail(_ value: Value, _ message: String) -> ScenarioError {
        ScenarioError(source: source, field: value.path, line: value.line, message: message)
    }

    /// The mapping's entries, without checking which keys are allowed.
    func rawFields(_ value: Value, expecting: String) throws(ScenarioError) -> Fields {
        guard case .mapping(let mapping) = value.node else {
            throw fail(value, "expected \(expecting), found \(value.node.summary)")
        }
        var explicit: [(key: String, keyLine: Int?, node: Yams.Node)] = []
        var merged: [(key: String, keyLine: Int?, node: Yams.Node)] = []
        var lines: [String: Int] = [:]
        for (keyNode, node) in mapping {
            guard case .scalar(let key) = keyNode else {
                throw fail(value, "a key must be a plain name, found \(keyNode.summary)")
            }
            if key.string == "<<" && keyNode.tag == Tag(.merge) {
                // YAML merge keys (`<<: *defaults`) let files share link profiles and NAT settings.
                let sources: [Yams.Node]
                if case .sequence(let sequence) = node { sources = Array(sequence) } else { sources = [node] }
                for mergedNode in sources {
                    for entry in try rawFields(value.child("<<", mergedNode), expecting: "a mapping to merge").entries
                    where !merged.contains(where: { $0.key == entry.key }) {
                        merged.append(entry)
                    }
                }
                continue
            }
            if let first = lines[key.string] {
                throw ScenarioError(
                    source: source, field: value.child(key.string, node).path, line: keyNode.mark?.line,
                    message: "duplicate key \"\(key.string)\" (first given at line \(first))")
            }
            lines[key.string] = keyNode.mark?.line ?? 0
            explicit.append((key.string, keyNode.mark?.line, node))
        }
        let inherited = merged.filter { entry in !explicit.contains { $0.key == entry.key } }
        return Fields(value: value, entries: explicit + inherited)
    }

    func check(_ fields: Fields, allowed: [String], context: String? = nil) throws(ScenarioError) {
        for (key, keyLine, node) in fields.entries where !allowed.contains(key) {
            let context = context.map { " for \($0)" } ?? ""
            throw ScenarioError(
                source: source, field: fields.value.child(key, node).path, line: keyLine,
                message: "unknown key \"\(key)\"\(context) (allowed: \(allowed.joined(separator: ", ")))")
        }
    }

    func fields(_ value: Value, allowed: [String], context: String? = nil) throws(ScenarioError) -> Fields {
        let fields = try rawFields(value, expecting: "a mapping with keys \(allowed.joined(separator: ", "))")
        try check(fields, allowed: allowed, context: context)
        return fields
    }

    func required(_ fields: Fields, _ key: String) throws(ScenarioError) -> Value {
        guard let value = fields[key] else {
            throw fail(fields.value, "missing required key \"\(key)\"")
        }
        return value
    }

    /// A list's elements; an empty value counts as an empty list, so a section can be emptied by
    /// commenting out its entries.
    func list(_ value: Value, of what: String) throws(ScenarioError) -> [Value] {
        if value.node.isNull { return [] }
        guard case .sequence(let sequence) = value.node else {
            throw fail(value, "expected a list of \(what), found \(value.node.summary)")
        }
        return sequence.enumerated().map { value.element($0.offset, $0.element) }
    }

    func scalar(_ value: Value, _ what: String) throws(ScenarioError) -> String {
        guard case .scalar(let scalar) = value.node, !value.node.isNull else {
            throw fail(value, "expected \(what), found \(value.node.summary)")
        }
        return scalar.string
    }

    func string(_ value: Value) throws(ScenarioError) -> String {
        try scalar(value, "text")
    }

    func name(_ value: Value) throws(ScenarioError) -> String {
        let text = try scalar(value, "a name")
        guard ScenarioValues.isValidName(text) else {
            throw fail(value, "\"\(text)\" is not a valid name (\(ScenarioValues.nameHint))")
        }
        return text
    }

    func bool(_ value: Value) throws(ScenarioError) -> Bool {
        let text = try scalar(value, "true or false")
        guard let bool = value.node.bool else {
            throw fail(value, "\"\(text)\" is not true or false")
        }
        return bool
    }

    func duration(_ value: Value, positive: Bool = false) throws(ScenarioError) -> UInt64 {
        let text = try scalar(value, "a duration (\(ScenarioValues.durationHint))")
        guard let duration = ScenarioValues.duration(text) else {
            throw fail(value, "\"\(text)\" is not a duration (\(ScenarioValues.durationHint))")
        }
        if positive && duration == 0 {
            throw fail(value, "must be longer than 0 (\(ScenarioValues.durationHint))")
        }
        return duration
    }

    func probability(_ value: Value) throws(ScenarioError) -> Double {
        let text = try scalar(value, ScenarioValues.probabilityHint)
        guard let probability = ScenarioValues.probability(text) else {
            throw fail(value, "\"\(text)\" is not a probability (\(ScenarioValues.probabilityHint))")
        }
        return probability
    }

    func byteCount(_ value: Value, positive: Bool) throws(ScenarioError) -> Int {
        let text = try scalar(value, ScenarioValues.byteCountHint)
        guard let count = ScenarioValues.byteCount(text), count > 0 || !positive else {
            throw fail(value, "\"\(text)\" is not a\(positive ? " positive" : "") size (\(ScenarioValues.byteCountHint))")
        }
        return count
    }

    /// A scalar that `parse` accepts; otherwise an error saying it is not `what`, with `hint`.
    private func parsedScalar<T>(
        _ value: Value, _ what: String, hint: String, expected: String? = nil, _ parse: (String) -> T?
    ) throws(ScenarioError) -> T {
        let text = try scalar(value, expected ?? hint)
        guard let parsed = parse(text) else { throw fail(value, "\"\(text)\" is not \(what) (\(hint))") }
        return parsed
    }

    func bandwidth(_ value: Value) throws(ScenarioError) -> UInt64 {
        try parsedScalar(
            value, "a positive bandwidth", hint: ScenarioValues.bandwidthHint,
            expected: "a bandwidth (\(ScenarioValues.bandwidthHint))"
        ) { ScenarioValues.bandwidth($0).flatMap { $0 > 0 ? $0 : nil } }
    }

    func address(_ value: Value) throws(ScenarioError) -> IPv4Address {
        try parsedScalar(value, "an IPv4 address", hint: ScenarioValues.addressHint, ScenarioValues.address)
    }

    func prefix(_ value: Value) throws(ScenarioError) -> IPv4Prefix {
        let text = try scalar(value, ScenarioValues.prefixHint)
        guard let prefix = ScenarioValues.prefix(text) else {
            if let loose = IPv4Prefix(text) {
                throw fail(value, "\"\(text)\" has bits set after the prefix length; did you mean \(loose)?")
            }
            throw fail(value, "\"\(text)\" is not a subnet (\(ScenarioValues.prefixHint))")
        }
        return prefix
    }

    func port(_ value: Value) throws(ScenarioError) -> UInt16 {
        try parsedScalar(value, "a port", hint: ScenarioValues.portHint, ScenarioValues.port)
    }

    func hostPort(_ value: Value) throws(ScenarioError) -> String {
        try parsedScalar(value, "host:port", hint: ScenarioValues.hostPortHint) { ScenarioValues.hostPort($0) != nil ? $0 : nil }
    }

    func integer(_ value: Value, atLeast minimum: Int) throws(ScenarioError) -> Int {
        let text = try scalar(value, "a whole number")
        guard text.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(text), number >= minimum else {
            throw fail(value, "\"\(text)\" is not a whole number of at least \(minimum)")
        }
        return number
    }

    /// One of an enumeration's spellings, listing them all when the text is none of them.
    func choice<Choice: RawRepresentable & CaseIterable>(_ value: Value, _ what: String) throws(ScenarioError) -> Choice
    where Choice.RawValue == String {
        let allowed = Choice.allCases.map(\.rawValue).joined(separator: ", ")
        let text = try scalar(value, "\(what) (\(allowed))")
        guard let choice = Choice(rawValue: text) else {
            throw fail(value, "\"\(text)\" is not \(what) (allowed: \(allowed))")
        }
        return choice
    }

    /// One of `allowed`, for choices that have no enumeration of their own in the model.
    func keyword(_ value: Value, _ what: String, allowed: [String]) throws(ScenarioError) -> String {
        let list = allowed.joined(separator: ", ")
        let text = try scalar(value, "\(what) (\(list))")
        guard allowed.contains(text) else {
            throw fail(value, "\"\(text)\" is not \(what) (allowed: \(list))")
        }
        return text
    }

    func unknown(_ value: Value, _ what: String, _ name: String, known: [String]) -> ScenarioError {
        fail(value, "unknown \(what) \"\(name)\" (known: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
    }

    /// A name that must stand for one of `kinds` of topology entity.
    func reference(_ value: Value, to kinds: Set<Entity>, in names: TopologyNames) throws(ScenarioError) -> String {
        let name = try self.name(value)
        let what = kinds.map(\.rawValue).sorted().joined(separator: " or ")
        guard let kind = names.kinds[name] else {
            throw unknown(value, what, name, known: names.known(kinds))
        }
        guard kinds.contains(kind) else {
            let known = names.known(kinds).joined(separator: ", ")
            throw fail(value, "\"\(name)\" is a \(kind.rawValue), not a \(what) (known: \(known.isEmpty ? "none" : known))")
        }
        return name
    }
}

// MARK: - The scenario

extension Reader {
    func scenario(_ root: Value) throws(ScenarioError) -> Scenario {
        let top = try fields(root, allowed: Self.topLevelKeys)
        let name = try self.name(required(top, "name"))
        var description = ""
        if let value = top["description"] { description = try string(value) }
        let duration = try self.duration(required(top, "duration"), positive: true)
        var seed: UInt64 = 1
        if let value = top["seed"] {
            let text = try scalar(value, "a whole number")
            guard text.allSatisfy({ $0.isASCII && $0.isNumber }), let number = UInt64(text) else {
                throw fail(value, "\"\(text)\" is not a seed (a whole number 0-\(UInt64.max))")
            }
            seed = number
        }
        let (topology, names) = try self.topology(required(top, "network"))
        var manifests: [KubernetesManifest] = []
        if let value = top["kubernetes"] {
            for item in try list(value, of: "Kubernetes objects") {
                manifests += try self.manifests(item.node, origin: .inline(item))
            }
        }
        if let value = top["manifests"] {
            for item in try list(value, of: "manifest file paths") {
                manifests += try manifestFile(item)
            }
        }
        var workloads: [WorkloadSpec] = []
        if let value = top["workloads"] {
            workloads = try self.workloads(value, names: names, duration: duration)
        }
        var faults: [FaultSpec] = []
        if let value = top["faults"] {
            for item in try list(value, of: "faults") {
                faults.append(try fault(item, names: names, duration: duration))
            }
        }
        var expectations: [ExpectationSpec] = []
        if let value = top["expect"] {
            var index = WorkloadIndex()
            for workload in workloads { index.byName[workload.name] = workload }
            for item in try list(value, of: "expectations") {
                expectations += try expectation(item, workloads: index)
            }
        }
        return Scenario(
            name: name, description: description, source: source, duration: duration, defaultSeed: seed,
            topology: topology, manifests: manifests, workloads: workloads, faults: faults,
            expectations: expectations)
    }
}

// MARK: - Topology

extension Reader {
    func topology(_ value: Value) throws(ScenarioError) -> (TopologySpec, TopologyNames) {
        let section = try fields(value, allowed: ["networks", "routers", "nodes"])
        var networks: [(spec: TopologySpec.Network, fields: Fields)] = []
        var routers: [(spec: TopologySpec.Router, fields: Fields)] = []
        var nodes: [(spec: TopologySpec.Node, fields: Fields)] = []
        let networksValue = try required(section, "networks")
        for item in try list(networksValue, of: "networks") {
            networks.append(try network(item))
        }
        if let list = section["routers"] {
            for item in try self.list(list, of: "routers") { routers.append(try router(item)) }
        }
        if let list = section["nodes"] {
            for item in try self.list(list, of: "nodes") { nodes.append(try node(item)) }
        }

        // Names are unique across all three kinds: they are also host names in "host:port".
        var names = TopologyNames()
        var firstUse: [String: String] = [:]
        let named: [(String, Entity, Fields)] =
            networks.map { ($0.spec.name, .network, $0.fields) } + routers.map { ($0.spec.name, .router, $0.fields) }
            + nodes.map { ($0.spec.name, .node, $0.fields) }
        for (name, kind, fields) in named {
            if let first = firstUse[name] {
                throw fail(
                    try required(fields, "name"),
                    "name \"\(name)\" is already used by \(first) (networks, routers and nodes need distinct names)")
            }
            firstUse[name] = fields.value.path
            names.kinds[name] = kind
        }
        for router in routers where router.spec.nat != nil { names.natRouters.insert(router.spec.name) }
        names.cloudNetworks = networks.filter(\.spec.isCloud).map(\.spec.name)

        try checkTree(networksValue, networks: networks, routers: routers, names: names)
        for node in nodes where names.kinds[node.spec.network] != .network {
            throw try unknownNetwork(required(node.fields, "network"), node.spec.network, names: names)
        }
        try checkAddresses(networks: networks, routers: routers, nodes: nodes)

        let topology = TopologySpec(
            networks: networks.map(\.spec), routers: routers.map(\.spec), nodes: nodes.map(\.spec))
        return (topology, names)
    }

    private func network(_ item: Value) throws(ScenarioError) -> (TopologySpec.Network, Fields) {
        let fields = try self.fields(item, allowed: ["name", "subnet", "router", "cloud"])
        var network = TopologySpec.Network(
            name: try name(required(fields, "name")), subnet: try prefix(required(fields, "subnet")))
        if let value = fields["router"] { network.router = try name(value) }
        if let value = fields["cloud"] { network.isCloud = try bool(value) }
        return (network, fields)
    }

    private func router(_ item: Value) throws(ScenarioError) -> (TopologySpec.Router, Fields) {
        let fields = try self.fields(item, allowed: ["name", "upstream", "address", "insideAddress", "nat", "link"])
        var router = TopologySpec.Router(
            name: try name(required(fields, "name")), upstream: try name(required(fields, "upstream")))
        if let value = fields["address"] { router.address = try address(value) }
        if let value = fields["insideAddress"] { router.insideAddress = try address(value) }
        if let value = fields["nat"] { router.nat = try nat(value) }
        if let value = fields["link"] { router.link = try link(value) }
        return (router, fields)
    }

    private func node(_ item: Value) throws(ScenarioError) -> (TopologySpec.Node, Fields) {
        let fields = try self.fields(item, allowed: ["name", "network", "address", "link"])
        var node = TopologySpec.Node(
            name: try name(required(fields, "name")), network: try name(required(fields, "network")))
        if let value = fields["address"] { node.address = try address(value) }
        if let value = fields["link"] { node.link = try link(value) }
        return (node, fields)
    }

    private func unknownNetwork(_ value: Value, _ name: String, names: TopologyNames) -> ScenarioError {
        if let kind = names.kinds[name] {
            return fail(
                value,
                "\"\(name)\" is a \(kind.rawValue), not a network (known: \(names.known([.network]).joined(separator: ", ")))")
        }
        return unknown(value, "network", name, known: names.known([.network]))
    }

    /// The networks and routers must form one tree below a single root network.
    private func checkTree(
        _ networksValue: Value, networks: [(spec: TopologySpec.Network, fields: Fields)], routers: [(spec: TopologySpec.Router, fields: Fields)],
        names: TopologyNames
    ) throws(ScenarioError) {
        var root: (name: String, path: String)?
        var insideOf: [String: (network: String, path: String)] = [:]
        for network in networks {
            guard let routerName = network.spec.router else {
                if let root {
                    throw fail(
                        network.fields.value,
                        "network \"\(network.spec.name)\" has no router, but \"\(root.name)\" (\(root.path)) is already "
                            + "the root; exactly one network (the internet) has no router, give the others one")
                }
                root = (network.spec.name, network.fields.value.path)
                continue
            }
            let routerValue = try required(network.fields, "router")
            guard names.kinds[routerName] == .router else {
                throw names.kinds[routerName].map { kind in
                    fail(routerValue, "\"\(routerName)\" is a \(kind.rawValue), not a router (known: \(names.known([.router]).joined(separator: ", ")))")
                } ?? unknown(routerValue, "router", routerName, known: names.known([.router]))
            }
            if let other = insideOf[routerName] {
                throw fail(
                    routerValue,
                    "router \"\(routerName)\" already serves network \"\(other.network)\" (\(other.path)); "
                        + "a router has exactly one inside network")
            }
            insideOf[routerName] = (network.spec.name, network.fields.value.path)
        }
        guard root != nil else {
            throw fail(
                networksValue,
                "no root network: exactly one network (the internet) must have no router")
        }
        for router in routers {
            guard let inside = insideOf[router.spec.name] else {
                throw fail(
                    router.fields.value,
                    "router \"\(router.spec.name)\" is the router of no network; name it in the router field of "
                        + "the network it serves")
            }
            let upstream = try required(router.fields, "upstream")
            guard names.kinds[router.spec.upstream] == .network else {
                throw unknownNetwork(upstream, router.spec.upstream, names: names)
            }
            if router.spec.upstream == inside.network {
                throw fail(
                    upstream,
                    "\"\(inside.network)\" is the router's own inside network; upstream is the network its WAN side is on")
            }
        }
        // Follow each network up through its router until the root; coming back means a cycle.
        let routerByName = Dictionary(routers.map { ($0.spec.name, $0) }, uniquingKeysWith: { first, _ in first })
        let routerOf = Dictionary(networks.map { ($0.spec.name, $0.spec.router) }, uniquingKeysWith: { first, _ in first })
        for network in networks {
            var visited = [network.spec.name]
            var trail = [network.spec.name]
            var current = network.spec.name
            while let routerName = routerOf[current] ?? nil, let router = routerByName[routerName] {
                current = router.spec.upstream
                trail += [routerName, current]
                if visited.contains(current) {
                    throw fail(
                        try required(router.fields, "upstream"),
                        "networks and routers form a cycle (\(trail.joined(separator: " -> "))); "
                            + "every network must lead up to the root network")
                }
                visited.append(current)
            }
        }
    }

    /// Given addresses lie inside their subnet, are usable host addresses and are not given twice on
    /// one network. (Different NATed LANs may reuse the same private subnet.)
    private func checkAddresses(
        networks: [(spec: TopologySpec.Network, fields: Fields)], routers: [(spec: TopologySpec.Router, fields: Fields)],
        nodes: [(spec: TopologySpec.Node, fields: Fields)]
    ) throws(ScenarioError) {
        let subnets = Dictionary(networks.map { ($0.spec.name, $0.spec.subnet) }, uniquingKeysWith: { first, _ in first })
        let insideOf = Dictionary(
            networks.compactMap { network in network.spec.router.map { ($0, network.spec.name) } },
            uniquingKeysWith: { first, _ in first })
        var assignments: [(address: IPv4Address?, network: String, value: Value?)] = []
        for router in routers {
            assignments.append((router.spec.address, router.spec.upstream, router.fields["address"]))
            if let inside = insideOf[router.spec.name] {
                assignments.append((router.spec.insideAddress, inside, router.fields["insideAddress"]))
            }
        }
        for node in nodes {
            assignments.append((node.spec.address, node.spec.network, node.fields["address"]))
        }
        var used: [String: [IPv4Address: String]] = [:]
        for case let (address?, network, value?) in assignments {
            guard let subnet = subnets[network] else { continue }
            guard subnet.contains(address) else {
                throw fail(value, "\(address) is outside network \"\(network)\" (\(subnet))")
            }
            if subnet.length <= 30 {
                if address == subnet.network {
                    throw fail(value, "\(address) is the network address of \"\(network)\" (\(subnet)); pick a host address")
                }
                if address == subnet.address(at: UInt32(truncatingIfNeeded: subnet.size - 1)) {
                    throw fail(value, "\(address) is the broadcast address of \"\(network)\" (\(subnet)); pick a host address")
                }
            }
            if let first = used[network]?[address] {
                throw fail(value, "\(address) is already used on network \"\(network)\" by \(first)")
            }
            used[network, default: [:]][address] = value.path
        }
    }

    private func nat(_ value: Value) throws(ScenarioError) -> NATConfiguration {
        let fields = try self.fields(
            value,
            allowed: [
                "mapping", "filtering", "hairpinning", "portPreservation", "portAllocation", "portRange", "udpTimeout",
                "tcpEstablishedTimeout", "tcpTransitoryTimeout", "inboundRefresh", "udp",
            ])
        var nat = NATConfiguration()
        if let value = fields["mapping"] { nat.mapping = try choice(value, "a NAT mapping behavior") }
        if let value = fields["filtering"] { nat.filtering = try choice(value, "a NAT filtering behavior") }
        if let value = fields["hairpinning"] { nat.hairpinning = try bool(value) }
        if let value = fields["portPreservation"] { nat.portPreservation = try bool(value) }
        if let value = fields["portAllocation"] { nat.portAllocation = try choice(value, "a port allocation") }
        if let value = fields["portRange"] {
            let text = try scalar(value, ScenarioValues.portRangeHint)
            guard let range = ScenarioValues.portRange(text) else {
                throw fail(value, "\"\(text)\" is not a port range (\(ScenarioValues.portRangeHint))")
            }
            nat.portRange = range
        }
        if let value = fields["udpTimeout"] { nat.udpMappingTimeout = try duration(value, positive: true) }
        if let value = fields["tcpEstablishedTimeout"] { nat.tcpEstablishedTimeout = try duration(value, positive: true) }
        if let value = fields["tcpTransitoryTimeout"] { nat.tcpTransitoryTimeout = try duration(value, positive: true) }
        if let value = fields["inboundRefresh"] { nat.inboundRefresh = try bool(value) }
        if let value = fields["udp"] {
            nat.blocksUDP = try keyword(value, "a UDP policy", allowed: ["allowed", "blocked"]) == "blocked"
        }
        return nat
    }

    /// A profile for both directions, or `{up: profile, down: profile}`.
    private func link(_ value: Value) throws(ScenarioError) -> LinkSpec {
        let fields = try rawFields(value, expecting: "a link profile or {up: profile, down: profile}")
        guard fields.keys.contains("up") || fields.keys.contains("down") else {
            return LinkSpec(both: try profile(value))
        }
        try check(fields, allowed: ["up", "down"], context: "a link given per direction")
        var link = LinkSpec()
        if let value = fields["up"] { link.up = try profile(value) }
        if let value = fields["down"] { link.down = try profile(value) }
        return link
    }

    private func profile(_ value: Value) throws(ScenarioError) -> LinkProfile {
        let fields = try self.fields(
            value, allowed: ["latency", "jitter", "loss", "burstLoss", "duplicate", "bandwidth", "queue", "reorder"])
        var profile = LinkProfile()
        if let value = fields["latency"] { profile.latency = try duration(value) }
        if let value = fields["jitter"] { profile.jitter = try duration(value) }
        if let value = fields["loss"] { profile.loss = try probability(value) }
        if let value = fields["burstLoss"] {
            let burst = try self.fields(value, allowed: ["enter", "exit", "loss"])
            profile.burstLoss = LinkProfile.BurstLoss(
                enterBad: try probability(required(burst, "enter")), exitBad: try probability(required(burst, "exit")))
            if let value = burst["loss"] { profile.burstLoss?.lossInBadState = try probability(value) }
        }
        if let value = fields["duplicate"] { profile.duplicate = try probability(value) }
        if let value = fields["bandwidth"] { profile.bandwidth = try bandwidth(value) }
        if let value = fields["queue"] { profile.queueLimit = try byteCount(value, positive: true) }
        if let value = fields["reorder"] { profile.reorder = try bool(value) }
        return profile
    }
}

// MARK: - Kubernetes manifests

/// Where a manifest came from, which decides how its errors are reported.
private enum ManifestOrigin {
    /// Under `kubernetes:` in the scenario itself: errors point at the field.
    case inline(Value)
    /// A document of a file listed under `manifests:`: errors point at the list entry and quote the
    /// file, its line and the document's number.
    case file(entry: Value, file: String, document: Int)
}

extension Reader {
    private func manifestError(
        _ origin: ManifestOrigin, node: Yams.Node, subpath: String, _ message: String
    ) -> ScenarioError {
        switch origin {
        case .inline(let value):
            let field = subpath.isEmpty ? value.path : "\(value.path).\(subpath)"
            return ScenarioError(source: source, field: field, line: node.mark?.line ?? value.line, message: message)
        case .file(let entry, let file, let document):
            let line = node.mark.map { ":\($0.line)" } ?? ""
            let field = subpath.isEmpty ? "" : "\(subpath): "
            return fail(entry, "\(file)\(line) (document \(document)): \(field)\(message)")
        }
    }

    /// One object, or the items of a `kind: List`.
    func manifests(_ node: Yams.Node, origin: ManifestOrigin, subpath: String = "") throws(ScenarioError) -> [KubernetesManifest] {
        func child(_ key: String) -> String { subpath.isEmpty ? key : "\(subpath).\(key)" }
        guard case .mapping(let mapping) = node else {
            throw manifestError(origin, node: node, subpath: subpath, "expected a Kubernetes object (a mapping), found \(node.summary)")
        }
        func text(_ key: String, in mapping: Yams.Node.Mapping, path: String) throws(ScenarioError) -> String? {
            guard let value = mapping[key] else { return nil }
            guard case .scalar(let scalar) = value, !value.isNull, !scalar.string.isEmpty else {
                throw manifestError(origin, node: value, subpath: path, "expected text, found \(value.summary)")
            }
            return scalar.string
        }
        guard let kind = try text("kind", in: mapping, path: child("kind")) else {
            throw manifestError(origin, node: node, subpath: subpath, "missing required key \"kind\"")
        }
        if kind == "List" {
            guard let items = mapping["items"], case .sequence(let sequence) = items else {
                throw manifestError(origin, node: node, subpath: child("items"), "a List needs an items list")
            }
            var manifests: [KubernetesManifest] = []
            for (index, item) in sequence.enumerated() {
                manifests += try self.manifests(item, origin: origin, subpath: "\(child("items"))[\(index)]")
            }
            return manifests
        }
        guard let apiVersion = try text("apiVersion", in: mapping, path: child("apiVersion")) else {
            throw manifestError(origin, node: node, subpath: subpath, "missing required key \"apiVersion\"")
        }
        guard let metadataNode = mapping["metadata"], case .mapping(let metadata) = metadataNode else {
            throw manifestError(origin, node: node, subpath: child("metadata"), "missing metadata with a name")
        }
        guard let name = try text("name", in: metadata, path: child("metadata.name")) else {
            throw manifestError(origin, node: metadataNode, subpath: child("metadata"), "missing required key \"name\"")
        }
        let namespace = try text("namespace", in: metadata, path: child("metadata.namespace"))
        let yaml: String
        do {
            yaml = try Yams.serialize(node: node)
        } catch {
            throw manifestError(origin, node: node, subpath: subpath, "cannot re-serialize the object: \(error)")
        }
        return [KubernetesManifest(apiVersion: apiVersion, kind: kind, name: name, namespace: namespace, yaml: yaml)]
    }

    /// Every document of a (multi-document) manifest file; empty documents are skipped as kubectl does.
    func manifestFile(_ entry: Value) throws(ScenarioError) -> [KubernetesManifest] {
        let file = try scalar(entry, "a manifest file path")
        let path = file.hasPrefix("/") ? file : baseDirectory == "." ? file : "\(baseDirectory)/\(file)"
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw fail(entry, "cannot read manifest file \(path): \(error.localizedDescription)")
        }
        var manifests: [KubernetesManifest] = []
        do {
            let parser = try Yams.Parser(yaml: text)
            var document = 0
            while let root = try parser.nextRoot() {
                document += 1
                if root.isNull { continue }
                manifests += try self.manifests(root, origin: .file(entry: entry, file: file, document: document))
            }
        } catch let error as ScenarioError {
            throw error
        } catch {
            let syntax = ScenarioParser.malformed(error, text: text, source: file, field: "")
            throw fail(entry, "\(file)\(syntax.line.map { ":\($0)" } ?? ""): \(syntax.message)")
        }
        return manifests
    }
}

// MARK: - Workloads

extension Reader {
    static let workloadKinds = [
        "http-server", "tcp-echo", "udp-echo", "websocket-echo", "client", "rendezvous", "punch-peer",
    ]

    private static func workloadKeys(_ kind: String) -> [String] {
        let common = ["name", "node", "kind"]
        switch kind {
        case "http-server": return common + ["port", "podName"]
        case "client": return common + ["protocol", "target", "targets", "start", "interval", "count", "timeout", "payload"]
        case "punch-peer": return common + ["transport", "rendezvous", "peer", "port", "start", "timeout"]
        default: return common + ["port"]
        }
    }

    func workloads(_ value: Value, names: TopologyNames, duration: UInt64) throws(ScenarioError) -> [WorkloadSpec] {
        var parsed: [(spec: WorkloadSpec, fields: Fields)] = []
        for item in try list(value, of: "workloads") {
            parsed.append(try workload(item, names: names, duration: duration))
        }
        var firstUse: [String: String] = [:]
        var podFirstUse: [String: String] = [:]
        var bound: [String: String] = [:]
        for (spec, fields) in parsed {
            if let first = firstUse[spec.name] {
                throw fail(try required(fields, "name"), "workload name \"\(spec.name)\" is already used by \(first)")
            }
            firstUse[spec.name] = fields.value.path
            // Pod names identify the backend that answered, which spread expectations count by.
            if case .httpServer(_, let podName) = spec.kind {
                if let first = podFirstUse[podName] {
                    // A default pod name is the workload name, so the name field is what clashes.
                    var field = fields["podName"]
                    if field == nil { field = try required(fields, "name") }
                    throw fail(field ?? fields.value, "pod name \"\(podName)\" is already used by \(first)")
                }
                podFirstUse[podName] = fields.value.path
            }
            // Two listeners on one node, transport and port cannot both bind.
            let binding: (transport: String, port: UInt16)?
            switch spec.kind {
            case .httpServer(let port, _), .tcpEcho(let port), .webSocketEcho(let port): binding = ("tcp", port)
            case .udpEcho(let port): binding = ("udp", port)
            case .punchPeer(let punch): binding = (punch.transport.rawValue, punch.port)
            case .client, .rendezvous: binding = nil
            }
            if let binding {
                let key = "\(spec.node) \(binding.transport) \(binding.port)"
                if let first = bound[key] {
                    throw fail(
                        try required(fields, "port"),
                        "\(binding.transport) port \(binding.port) on node \"\(spec.node)\" is already used by \(first)")
                }
                bound[key] = fields.value.path
            }
        }
        let byName = Dictionary(parsed.map { ($0.spec.name, $0.spec) }, uniquingKeysWith: { first, _ in first })
        let peers = parsed.filter(\.spec.isPunchPeer).map(\.spec.name).sorted()
        for (spec, fields) in parsed {
            guard case .punchPeer(let punch) = spec.kind else { continue }
            let peerValue = try required(fields, "peer")
            guard let peer = byName[punch.peer] else {
                throw unknown(peerValue, "punch-peer workload", punch.peer, known: peers.filter { $0 != spec.name })
            }
            guard case .punchPeer(let other) = peer.kind, peer.name != spec.name else {
                let problem = peer.name == spec.name ? "is this workload itself" : "is not a punch-peer (its kind is \(peer.kindName))"
                throw fail(
                    peerValue,
                    "\"\(punch.peer)\" \(problem); peer names another punch-peer workload (known: "
                        + "\(peers.filter { $0 != spec.name }.joined(separator: ", ")))")
            }
            if other.transport != punch.transport {
                throw fail(
                    peerValue,
                    "peer \"\(peer.name)\" punches over \(other.transport.rawValue) but this workload over "
                        + "\(punch.transport.rawValue); both sides need the same transport")
            }
        }
        return parsed.map(\.spec)
    }

    private func workload(_ item: Value, names: TopologyNames, duration: UInt64) throws(ScenarioError) -> (WorkloadSpec, Fields) {
        let fields = try rawFields(item, expecting: "a workload mapping")
        let kind = try keyword(required(fields, "kind"), "a workload kind", allowed: Self.workloadKinds)
        try check(fields, allowed: Self.workloadKeys(kind), context: "kind \(kind)")
        let name = try self.name(required(fields, "name"))
        let node = try reference(required(fields, "node"), to: [.node], in: names)
        let spec: WorkloadSpec.Kind
        switch kind {
        case "http-server":
            var podName = name
            if let value = fields["podName"] { podName = try self.name(value) }
            spec = .httpServer(port: try port(required(fields, "port")), podName: podName)
        case "tcp-echo": spec = .tcpEcho(port: try port(required(fields, "port")))
        case "udp-echo": spec = .udpEcho(port: try port(required(fields, "port")))
        case "websocket-echo": spec = .webSocketEcho(port: try port(required(fields, "port")))
        case "rendezvous": spec = .rendezvous(port: try port(required(fields, "port")))
        case "client": spec = .client(try client(fields, duration: duration))
        default: spec = .punchPeer(try punchPeer(fields, duration: duration))
        }
        return (WorkloadSpec(name: name, node: node, kind: spec), fields)
    }

    private func client(_ fields: Fields, duration: UInt64) throws(ScenarioError) -> WorkloadSpec.ClientSpec {
        let clientProtocol: WorkloadSpec.ClientSpec.ClientProtocol = try choice(required(fields, "protocol"), "a client protocol")
        var targets: [String] = []
        switch (fields["target"], fields["targets"]) {
        case (let target?, nil):
            targets = [try hostPort(target)]
        case (nil, let list?):
            for item in try self.list(list, of: "host:port targets") { targets.append(try hostPort(item)) }
            guard !targets.isEmpty else { throw fail(list, "needs at least one host:port target") }
        case (_?, let list?):
            throw fail(list, "give either target or targets, not both")
        case (nil, nil):
            throw fail(fields.value, "missing required key \"target\" (or \"targets\", a list)")
        }
        var start: UInt64 = 0
        var interval = Nanoseconds.second
        var count = 10
        var timeout = 5 * Nanoseconds.second
        var payload = 64
        if let value = fields["start"] { start = try self.duration(value) }
        if let value = fields["interval"] { interval = try self.duration(value, positive: true) }
        if let value = fields["count"] { count = try integer(value, atLeast: 1) }
        if let value = fields["timeout"] { timeout = try self.duration(value, positive: true) }
        if let value = fields["payload"] { payload = try byteCount(value, positive: false) }
        try checkStart(start, fields: fields, duration: duration)
        // Every request must be decided (answered or timed out) before the run ends, or the success
        // ratio would count requests that never had their chance.
        let (span, spanOverflow) = interval.multipliedReportingOverflow(by: UInt64(count - 1))
        let end = spanOverflow ? UInt64.max : start.addingClamped(span).addingClamped(timeout)
        if end > duration {
            throw fail(
                fields["count"] ?? fields.value,
                "\(count) requests every \(ScenarioValues.format(duration: interval)) from "
                    + "\(ScenarioValues.format(duration: start)), each given \(ScenarioValues.format(duration: timeout)), "
                    + "are decided only at \(spanOverflow ? "never" : ScenarioValues.format(duration: end)), after the "
                    + "end of the run (\(ScenarioValues.format(duration: duration))); lower count or interval, or "
                    + "lengthen duration")
        }
        return WorkloadSpec.ClientSpec(
            protocol: clientProtocol, targets: targets, start: start, interval: interval, count: count, timeout: timeout,
            payloadSize: payload)
    }

    private func punchPeer(_ fields: Fields, duration: UInt64) throws(ScenarioError) -> WorkloadSpec.PunchSpec {
        var transport = WorkloadSpec.TransportKind.udp
        if let value = fields["transport"] { transport = try choice(value, "a punch transport") }
        var start: UInt64 = 0
        var timeout = 30 * Nanoseconds.second
        if let value = fields["start"] { start = try self.duration(value) }
        if let value = fields["timeout"] { timeout = try self.duration(value, positive: true) }
        try checkStart(start, fields: fields, duration: duration)
        if start.addingClamped(timeout) > duration {
            throw fail(
                fields["timeout"] ?? fields.value,
                "a punch from \(ScenarioValues.format(duration: start)) given \(ScenarioValues.format(duration: timeout)) "
                    + "is decided after the end of the run (\(ScenarioValues.format(duration: duration)))")
        }
        return WorkloadSpec.PunchSpec(
            transport: transport, rendezvous: try hostPort(required(fields, "rendezvous")),
            peer: try name(required(fields, "peer")), port: try port(required(fields, "port")), start: start,
            timeout: timeout)
    }

    private func checkStart(_ start: UInt64, fields: Fields, duration: UInt64) throws(ScenarioError) {
        if start >= duration, let value = fields["start"] {
            throw fail(
                value,
                "\(ScenarioValues.format(duration: start)) is not before the end of the run "
                    + "(duration \(ScenarioValues.format(duration: duration)))")
        }
    }
}

extension UInt64 {
    fileprivate func addingClamped(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}

// MARK: - Faults

extension Reader {
    static let faultKinds = ["partition", "isolate", "linkDown", "flap", "crash", "natReboot", "cloudUnreachable"]

    func fault(_ item: Value, names: TopologyNames, duration: UInt64) throws(ScenarioError) -> FaultSpec {
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
            var direction = FaultSpec.Direction.both
            if let value = link["direction"] { direction = try choice(value, "a link direction") }
            kind = .linkDown(node: try reference(required(link, "node"), to: [.node, .router], in: names), direction: direction)
        case "flap":
            let flap = try self.fields(value, allowed: ["node", "down", "up"])
            kind = .flap(
                node: try reference(required(flap, "node"), to: [.node, .router], in: names),
                down: try self.duration(required(flap, "down"), positive: true),
                up: try self.duration(required(flap, "up"), positive: true))
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

    /// A partition group: a list of node, router or network names (or a single name).
    private func group(_ value: Value, names: TopologyNames) throws(ScenarioError) -> [String] {
        let items: [Value]
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

// MARK: - Expectations

extension Reader {
    private static let percentiles: [(key: String, value: Double)] = [
        ("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9),
    ]

    /// One `expect` entry; each bound in it becomes its own `ExpectationSpec`, in document order.
    func expectation(_ item: Value, workloads: WorkloadIndex) throws(ScenarioError) -> [ExpectationSpec] {
        let kinds = ["successRatio", "latency", "spread", "path"]
        let fields = try self.fields(item, allowed: ["workload"] + kinds)
        let workloadValue = try required(fields, "workload")
        let name = try self.name(workloadValue)
        let known = workloads.clientsAndPeers.joined(separator: ", ")
        guard let workload = workloads.byName[name] else {
            throw unknown(workloadValue, "client or punch-peer workload", name, known: workloads.clientsAndPeers)
        }
        guard workload.isClient || workload.isPunchPeer else {
            throw fail(
                workloadValue,
                "\"\(name)\" is not a client or punch-peer (its kind is \(workload.kindName)); expectations are about client and punch-peer "
                    + "workloads (known: \(known.isEmpty ? "none" : known))")
        }
        guard fields.keys.contains(where: { kinds.contains($0) }) else {
            throw fail(item, "nothing to expect: give at least one of \(kinds.joined(separator: ", "))")
        }
        var expectations: [ExpectationSpec] = []
        for key in fields.keys where key != "workload" {
            guard let value = fields[key] else { continue }
            switch key {
            case "successRatio":
                let ratio = try self.fields(value, allowed: ["min", "max"])
                guard !ratio.entries.isEmpty else { throw fail(value, "give min, max or both") }
                var bounds: (min: Double?, max: Double?) = (nil, nil)
                for bound in ratio.keys {
                    guard let boundValue = ratio[bound] else { continue }
                    let number = try probability(boundValue)
                    if bound == "min" {
                        bounds.min = number
                        expectations.append(ExpectationSpec(workload: name, kind: .minSuccessRatio(number)))
                    } else {
                        bounds.max = number
                        expectations.append(ExpectationSpec(workload: name, kind: .maxSuccessRatio(number)))
                    }
                }
                if let min = bounds.min, let max = bounds.max, min > max {
                    throw fail(value, "min \(min) is above max \(max); no run could meet both")
                }
            case "latency":
                let latency = try self.fields(value, allowed: Self.percentiles.map(\.key))
                guard !latency.entries.isEmpty else {
                    throw fail(value, "give at least one of \(Self.percentiles.map(\.key).joined(separator: ", "))")
                }
                for percentileKey in latency.keys {
                    guard let bound = latency[percentileKey],
                        let percentile = Self.percentiles.first(where: { $0.key == percentileKey })?.value
                    else { continue }
                    expectations.append(
                        ExpectationSpec(workload: name, kind: .latency(percentile: percentile, max: try duration(bound))))
                }
            case "spread":
                expectations.append(
                    ExpectationSpec(workload: name, kind: try spread(value, client: workload, workloads: workloads)))
            default:
                let path: ExpectationSpec.Path = try choice(value, "a path")
                expectations.append(ExpectationSpec(workload: name, kind: .path(path)))
            }
        }
        return expectations
    }

    private func spread(_ value: Value, client: WorkloadSpec, workloads: WorkloadIndex) throws(ScenarioError) -> ExpectationSpec.Kind {
        guard case .client(let spec) = client.kind, spec.protocol == .http else {
            throw fail(value, "spread needs an http client: only HTTP answers name the backend (pod) that served them")
        }
        let spread = try fields(value, allowed: ["backends", "tolerance"])
        let backendsValue = try required(spread, "backends")
        var backends: [String] = []
        for item in try list(backendsValue, of: "pod names") {
            let backend = try name(item)
            guard workloads.podNames.contains(backend) else {
                throw unknown(item, "backend", backend, known: workloads.podNames)
            }
            if backends.contains(backend) { throw fail(item, "\"\(backend)\" is listed twice") }
            backends.append(backend)
        }
        guard !backends.isEmpty else { throw fail(backendsValue, "needs at least one backend pod name") }
        return .spread(backends: backends, tolerance: try probability(required(spread, "tolerance")))
    }
}
