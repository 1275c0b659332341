import Foundation
import Mesh
import Yams

/// Walks the document. Every method names the field it failed on.
struct ScenarioReader {
    static let requiredTopLevelKeys = ["name", "duration", "network"]
    static let topLevelKeys = requiredTopLevelKeys + [
        "description", "seed", "kubernetes", "manifests", "mesh", "changes", "workloads", "faults", "expect", "matrix",
        "lab", "chaos", "judgeFrom",
    ]

    let source: String
    let baseDirectory: String

    func fail(_ value: LocatedNode, _ message: String) -> ScenarioError {
        ScenarioError(source: source, field: value.path, line: value.line, message: message)
    }

    /// The mapping's entries, without checking which keys are allowed.
    func rawFields(_ value: LocatedNode, expecting: String) throws(ScenarioError) -> MappingEntries {
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
        return MappingEntries(value: value, entries: explicit + inherited)
    }

    func check(_ fields: MappingEntries, allowed: [String], context: String? = nil) throws(ScenarioError) {
        for (key, keyLine, node) in fields.entries where !allowed.contains(key) {
            let context = context.map { " for \($0)" } ?? ""
            throw ScenarioError(
                source: source, field: fields.value.child(key, node).path, line: keyLine,
                message: "unknown key \"\(key)\"\(context) (allowed: \(allowed.joined(separator: ", ")))")
        }
    }

    func fields(_ value: LocatedNode, allowed: [String], context: String? = nil) throws(ScenarioError) -> MappingEntries {
        let fields = try rawFields(value, expecting: "a mapping with keys \(allowed.joined(separator: ", "))")
        try check(fields, allowed: allowed, context: context)
        return fields
    }

    func required(_ fields: MappingEntries, _ key: String) throws(ScenarioError) -> LocatedNode {
        guard let value = fields[key] else {
            throw fail(fields.value, "missing required key \"\(key)\"")
        }
        return value
    }

    /// A list's elements; an empty value counts as an empty list, so a section can be emptied by
    /// commenting out its entries.
    func list(_ value: LocatedNode, of what: String) throws(ScenarioError) -> [LocatedNode] {
        if value.node.isNull { return [] }
        guard case .sequence(let sequence) = value.node else {
            throw fail(value, "expected a list of \(what), found \(value.node.summary)")
        }
        return sequence.enumerated().map { value.element($0.offset, $0.element) }
    }

    func scalar(_ value: LocatedNode, _ what: String) throws(ScenarioError) -> String {
        guard case .scalar(let scalar) = value.node, !value.node.isNull else {
            throw fail(value, "expected \(what), found \(value.node.summary)")
        }
        return scalar.string
    }

    func string(_ value: LocatedNode) throws(ScenarioError) -> String {
        try scalar(value, "text")
    }

    func name(_ value: LocatedNode) throws(ScenarioError) -> String {
        let text = try scalar(value, "a name")
        guard ScenarioValues.isValidName(text) else {
            throw fail(value, "\"\(text)\" is not a valid name (\(ScenarioValues.nameHint))")
        }
        return text
    }

    func bool(_ value: LocatedNode) throws(ScenarioError) -> Bool {
        let text = try scalar(value, "true or false")
        guard let bool = value.node.bool else {
            throw fail(value, "\"\(text)\" is not true or false")
        }
        return bool
    }

    func duration(_ value: LocatedNode, positive: Bool = false) throws(ScenarioError) -> UInt64 {
        let text = try scalar(value, "a duration (\(ScenarioValues.durationHint))")
        guard let duration = ScenarioValues.duration(text) else {
            throw fail(value, "\"\(text)\" is not a duration (\(ScenarioValues.durationHint))")
        }
        if positive && duration == 0 {
            throw fail(value, "must be longer than 0 (\(ScenarioValues.durationHint))")
        }
        return duration
    }

    func probability(_ value: LocatedNode) throws(ScenarioError) -> Double {
        let text = try scalar(value, ScenarioValues.probabilityHint)
        guard let probability = ScenarioValues.probability(text) else {
            throw fail(value, "\"\(text)\" is not a probability (\(ScenarioValues.probabilityHint))")
        }
        return probability
    }

    func byteCount(_ value: LocatedNode, positive: Bool) throws(ScenarioError) -> Int {
        let text = try scalar(value, ScenarioValues.byteCountHint)
        guard let count = ScenarioValues.byteCount(text), count > 0 || !positive else {
            throw fail(value, "\"\(text)\" is not a\(positive ? " positive" : "") size (\(ScenarioValues.byteCountHint))")
        }
        return count
    }

    /// A scalar that `parse` accepts; otherwise an error saying it is not `what`, with `hint`.
    private func parsedScalar<T>(
        _ value: LocatedNode, _ what: String, hint: String, expected: String? = nil, _ parse: (String) -> T?
    ) throws(ScenarioError) -> T {
        let text = try scalar(value, expected ?? hint)
        guard let parsed = parse(text) else { throw fail(value, "\"\(text)\" is not \(what) (\(hint))") }
        return parsed
    }

    func bandwidth(_ value: LocatedNode) throws(ScenarioError) -> UInt64 {
        try parsedScalar(
            value, "a positive bandwidth", hint: ScenarioValues.bandwidthHint,
            expected: "a bandwidth (\(ScenarioValues.bandwidthHint))"
        ) { ScenarioValues.bandwidth($0).flatMap { $0 > 0 ? $0 : nil } }
    }

    func address(_ value: LocatedNode) throws(ScenarioError) -> IPv4Address {
        try parsedScalar(value, "an IPv4 address", hint: ScenarioValues.addressHint, ScenarioValues.address)
    }

    func prefix(_ value: LocatedNode) throws(ScenarioError) -> IPv4Prefix {
        let text = try scalar(value, ScenarioValues.prefixHint)
        guard let prefix = ScenarioValues.prefix(text) else {
            if let loose = IPv4Prefix(text) {
                throw fail(value, "\"\(text)\" has bits set after the prefix length; did you mean \(loose)?")
            }
            throw fail(value, "\"\(text)\" is not a subnet (\(ScenarioValues.prefixHint))")
        }
        return prefix
    }

    func port(_ value: LocatedNode) throws(ScenarioError) -> UInt16 {
        try parsedScalar(value, "a port", hint: ScenarioValues.portHint, ScenarioValues.port)
    }

    func hostPort(_ value: LocatedNode) throws(ScenarioError) -> String {
        try parsedScalar(value, "host:port", hint: ScenarioValues.hostPortHint) { ScenarioValues.hostPort($0) != nil ? $0 : nil }
    }

    func integer(_ value: LocatedNode, atLeast minimum: Int) throws(ScenarioError) -> Int {
        let text = try scalar(value, "a whole number")
        guard text.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(text), number >= minimum else {
            throw fail(value, "\"\(text)\" is not a whole number of at least \(minimum)")
        }
        return number
    }

    /// One of an enumeration's spellings, listing them all when the text is none of them.
    func choice<Choice: RawRepresentable & CaseIterable>(_ value: LocatedNode, _ what: String) throws(ScenarioError) -> Choice
    where Choice.RawValue == String {
        let allowed = Choice.allCases.map(\.rawValue).joined(separator: ", ")
        let text = try scalar(value, "\(what) (\(allowed))")
        guard let choice = Choice(rawValue: text) else {
            throw fail(value, "\"\(text)\" is not \(what) (allowed: \(allowed))")
        }
        return choice
    }

    /// One of `allowed`, for choices that have no enumeration of their own in the model.
    func keyword(_ value: LocatedNode, _ what: String, allowed: [String]) throws(ScenarioError) -> String {
        let list = allowed.joined(separator: ", ")
        let text = try scalar(value, "\(what) (\(list))")
        guard allowed.contains(text) else {
            throw fail(value, "\"\(text)\" is not \(what) (allowed: \(list))")
        }
        return text
    }

    func unknown(_ value: LocatedNode, _ what: String, _ name: String, known: [String]) -> ScenarioError {
        fail(value, "unknown \(what) \"\(name)\" (known: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
    }

    /// A name that must stand for one of `kinds` of topology entity.
    func reference(_ value: LocatedNode, to kinds: Set<TopologyNameKind>, in names: TopologyNames) throws(ScenarioError) -> String {
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
