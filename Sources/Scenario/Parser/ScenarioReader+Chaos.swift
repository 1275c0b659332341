import NetworkTopology

// MARK: - Chaos bounds

extension ScenarioReader {
    /// `chaos: {faults, kinds, from, until, longest, settle, maxLoss, maxLatency, maxSkew, targets}`:
    /// every key optional, the defaults those of `ChaosSpec.defaults(duration:)`.
    func chaos(_ value: LocatedNode, names: TopologyNames, duration: UInt64) throws(ScenarioError) -> ChaosSpec {
        let fields = try self.fields(
            value, allowed: ["faults", "kinds", "from", "until", "longest", "settle", "maxLoss", "maxLatency", "maxSkew", "targets"])
        var spec = ChaosSpec.defaults(duration: duration)
        if let value = fields["faults"] {
            spec.faults = try integer(value, atLeast: 0)
            guard spec.faults <= Self.mostChaosFaults else { throw fail(value, "at most \(Self.mostChaosFaults) faults a run") }
        }
        if let value = fields["kinds"] {
            var kinds: [ChaosSpec.Kind] = []
            for item in try list(value, of: "fault kinds") {
                let kind: ChaosSpec.Kind = try choice(item, "a chaos fault kind")
                if kinds.contains(kind) { throw fail(item, "\"\(kind.rawValue)\" is listed twice") }
                kinds.append(kind)
            }
            guard !kinds.isEmpty else { throw fail(value, "needs at least one kind") }
            spec.kinds = kinds
        }
        if let value = fields["from"] { spec.from = try self.duration(value) }
        if let value = fields["until"] { spec.until = try self.duration(value, positive: true) }
        if let value = fields["longest"] { spec.longest = try self.duration(value, positive: true) }
        if let value = fields["settle"] { spec.settle = try self.duration(value) }
        if let value = fields["maxLoss"] { spec.maxLoss = try probability(value) }
        if let value = fields["maxLatency"] { spec.maxLatency = try self.duration(value) }
        if let value = fields["maxSkew"] { spec.maxSkew = try self.duration(value) }
        if let value = fields["targets"] {
            spec.targets = try list(value, of: "node and router names").map { item throws(ScenarioError) in
                try reference(item, to: [.node, .router], in: names)
            }
        }
        guard spec.from + Nanoseconds.second <= spec.until else {
            throw fail(value, "from (\(ScenarioValues.format(duration: spec.from))) must be at least 1s before until "
                + "(\(ScenarioValues.format(duration: spec.until))): a drawn fault lasts 1s or more")
        }
        guard spec.until + spec.settle < duration else {
            throw fail(value, "until + settle (\(ScenarioValues.format(duration: spec.until + spec.settle))) must end before the run "
                + "(duration \(ScenarioValues.format(duration: duration))), so the run is judged after it settles")
        }
        guard spec.longest >= Nanoseconds.second else { throw fail(value, "longest must be at least 1s") }
        return spec
    }

    /// Bounds the work one run is given (and the size of what a failing seed prints).
    static let mostChaosFaults = 100
}
