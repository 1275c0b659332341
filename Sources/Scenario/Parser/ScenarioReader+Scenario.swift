import Foundation
import Mesh
import Yams

// MARK: - The scenario

extension ScenarioReader {
    func scenario(_ root: LocatedNode) throws(ScenarioError) -> Scenario {
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
        var mesh: MeshSpec?
        if let value = top["mesh"] { mesh = try self.mesh(value, names: names) }
        var changes: [ObjectChangeSpec] = []
        if let value = top["changes"] {
            guard mesh != nil else { throw fail(value, "changes need a mesh section (agents to see them)") }
            for item in try list(value, of: "object changes") {
                changes.append(try change(item, duration: duration))
            }
        }
        var workloads: [WorkloadSpec] = []
        if let value = top["workloads"] {
            workloads = try self.workloads(
                value, names: names, duration: duration, agents: mesh?.agents ?? [], manifests: manifests)
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
                expectations += try expectation(item, workloads: index, agents: mesh?.agents ?? [])
            }
        }
        let matrix = try top["matrix"].map { value throws(ScenarioError) in try self.matrix(value, workloads: workloads) }
        let lab = try top["lab"].map { value throws(ScenarioError) in
            try labProfile(value, names: names, duration: duration, workloads: workloads, agents: mesh?.agents ?? [])
        }
        let chaos = try top["chaos"].map { value throws(ScenarioError) in try self.chaos(value, names: names, duration: duration) }
        // What a shrunk chaos run writes: the expectations judge the settled end of the run.
        let judgeFrom = try top["judgeFrom"].map { value throws(ScenarioError) in
            let time = try self.duration(value)
            guard time < duration else { throw fail(value, "judgeFrom must be before the end of the run (duration \(ScenarioValues.format(duration: duration)))") }
            return time
        }
        var scenario = Scenario(
            name: name, description: description, source: source, duration: duration, defaultSeed: seed,
            topology: topology, manifests: manifests, mesh: mesh, changes: changes, workloads: workloads, faults: faults,
            expectations: expectations, matrix: matrix, labProfile: lab, chaos: chaos)
        scenario.settlesAt = judgeFrom
        return scenario
    }

    /// `lab: {duration, faults, expect, why}`: a shorter run for real namespaces, where scenario
    /// time is real time. Its faults and expectations replace the file's (checked the same way).
    private func labProfile(
        _ value: LocatedNode, names: TopologyNames, duration: UInt64, workloads: [WorkloadSpec], agents: [String]
    ) throws(ScenarioError) -> LabProfile {
        let fields = try self.fields(value, allowed: ["duration", "faults", "expect", "why"])
        let labDuration = try self.duration(required(fields, "duration"), positive: true)
        guard labDuration <= duration else {
            throw fail(value, "the lab profile's duration is longer than the scenario's own")
        }
        var faults: [FaultSpec]?
        if let value = fields["faults"] {
            var list: [FaultSpec] = []
            for item in try self.list(value, of: "faults") {
                list.append(try fault(item, names: names, duration: labDuration))
            }
            faults = list
        }
        var expectations: [ExpectationSpec]?
        if let value = fields["expect"] {
            var index = WorkloadIndex()
            for workload in workloads { index.byName[workload.name] = workload }
            var list: [ExpectationSpec] = []
            for item in try self.list(value, of: "expectations") {
                list += try expectation(item, workloads: index, agents: agents)
            }
            expectations = list
        }
        let why = try fields["why"].map { value throws(ScenarioError) in try string(value) }
        return LabProfile(duration: labDuration, faults: faults, expectations: expectations, why: why)
    }
}
