import Foundation
import Mesh
import Yams

// MARK: - Expectations

extension ScenarioReader {
    private static let percentiles: [(key: String, value: Double)] = [
        ("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9),
    ]

    /// One `expect` entry; each bound in it becomes its own `ExpectationSpec`, in document order.
    func expectation(_ item: LocatedNode, workloads: WorkloadIndex, agents: [String]) throws(ScenarioError) -> [ExpectationSpec] {
        if case .mapping(let mapping) = item.node, mapping["agent"] != nil {
            return [try agentExpectation(item, agents: agents)]
        }
        let kinds = ["successRatio", "latency", "spread", "backends", "path"]
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
                for bound in try minMax(value, parse: probability) {
                    expectations.append(
                        ExpectationSpec(subject: name, kind: bound.isMin ? .minSuccessRatio(bound.value) : .maxSuccessRatio(bound.value)))
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
                        ExpectationSpec(subject: name, kind: .latency(percentile: percentile, max: try duration(bound))))
                }
            case "backends":
                for bound in try minMax(value, parse: { value throws(ScenarioError) in try integer(value, atLeast: 1) }) {
                    expectations.append(ExpectationSpec(subject: name, kind: bound.isMin ? .minBackends(bound.value) : .maxBackends(bound.value)))
                }
            case "spread":
                expectations.append(
                    ExpectationSpec(subject: name, kind: try spread(value, client: workload, workloads: workloads)))
            default:
                let path: ExpectationSpec.Path = try choice(value, "a path")
                expectations.append(ExpectationSpec(subject: name, kind: .path(path)))
            }
        }
        return expectations
    }

    private func spread(_ value: LocatedNode, client: WorkloadSpec, workloads: WorkloadIndex) throws(ScenarioError) -> ExpectationSpec.Kind {
        guard case .client(let spec) = client.kind, [.http, .https, .httpKeepAlive, .httpsKeepAlive, .grpc].contains(spec.protocol) else {
            throw fail(value, "spread needs an http, https, http-keepalive or grpc client: only their answers name the backend (pod) that served them")
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

    /// A `{min, max}` mapping (either or both), in document order; min above max is refused.
    private func minMax<Bound: Comparable>(
        _ value: LocatedNode, parse: (LocatedNode) throws(ScenarioError) -> Bound
    ) throws(ScenarioError) -> [(isMin: Bool, value: Bound)] {
        let fields = try self.fields(value, allowed: ["min", "max"])
        guard !fields.entries.isEmpty else { throw fail(value, "give min, max or both") }
        var bounds: [(isMin: Bool, value: Bound)] = []
        for key in fields.keys {
            guard let boundValue = fields[key] else { continue }
            bounds.append((key == "min", try parse(boundValue)))
        }
        if let min = bounds.first(where: \.isMin)?.value, let max = bounds.first(where: { !$0.isMin })?.value, min > max {
            throw fail(value, "min \(min) is above max \(max); no run could meet both")
        }
        return bounds
    }

    /// `{agent: NODE, tableMatchesSource: true}`.
    private func agentExpectation(_ item: LocatedNode, agents: [String]) throws(ScenarioError) -> ExpectationSpec {
        let fields = try self.fields(item, allowed: ["agent", "tableMatchesSource"])
        let agentValue = try required(fields, "agent")
        let node = try name(agentValue)
        guard agents.contains(node) else { throw unknown(agentValue, "agent node", node, known: agents) }
        let wanted = try required(fields, "tableMatchesSource")
        guard try bool(wanted) else { throw fail(wanted, "only true can be expected") }
        return ExpectationSpec(subject: node, kind: .tableMatchesSource)
    }
}
