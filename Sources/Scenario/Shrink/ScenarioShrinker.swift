import NetworkTopology

/// Makes a failing run smaller while it keeps failing the same way: removes the faults (drawn
/// ones and the file's own), the object changes and the client workloads one at a time, keeping
/// each removal after which the run still fails first on the same expectation or invariant, and
/// keeps only the expectations about what failed. Each trial is a whole run, so a shrink costs
/// as many runs as there are parts to try (and again while a pass removes something).
public struct ScenarioShrinker {
    /// What a run came to, for the shrinker: the failures in order, the first one deciding.
    public typealias Run = (Scenario) throws -> SeedResult

    public struct Outcome {
        /// The smallest scenario found that still fails as the original did.
        public var scenario: Scenario
        /// The failure it was shrunk for: "subject kind" or "invariant name".
        public var failure: SeedResult.Failure
        /// Runs it took.
        public var trials: Int
        /// What was removed, in words, in the order it was.
        public var removed: [String]
    }

    public enum ShrinkError: Error, CustomStringConvertible {
        case passes
        public var description: String { "the run passes: nothing to shrink" }
    }

    private let run: Run

    public init(run: @escaping Run) {
        self.run = run
    }

    public func shrink(_ scenario: Scenario) throws -> Outcome {
        let first = try run(scenario)
        guard let target = first.failures.first else { throw ShrinkError.passes }
        var trials = 1
        var current = scenario
        var removed: [String] = []
        func stillFails(_ candidate: Scenario) throws -> Bool {
            trials += 1
            return try run(candidate).failures.first?.expectation == target.expectation
        }
        // Only what failed is expected; the rest would only cost time and hide nothing.
        let subject = target.expectation.split(separator: " ").first.map(String.init) ?? ""
        var focused = current
        if !target.expectation.hasPrefix("invariant ") {
            focused.expectations = current.expectations.filter { $0.subject == subject }
        } else {
            focused.expectations = []
        }
        focused.matrix = nil
        focused.labProfile = nil
        if try stillFails(focused) { current = focused }

        var changed = true
        while changed {
            changed = false
            // One element of a list of the scenario at a time, from the last.
            func removeEach<Element>(_ list: WritableKeyPath<Scenario, [Element]>, _ words: (Element) -> String) throws {
                for index in current[keyPath: list].indices.reversed() {
                    var candidate = current
                    let element = candidate[keyPath: list].remove(at: index)
                    if try stillFails(candidate) {
                        current = candidate
                        removed.append(words(element))
                        changed = true
                    }
                }
            }
            try removeEach(\.faults) { "fault at \(Nanoseconds.format($0.at)): \(ChaosPlan.describe($0.kind))" }
            try removeEach(\.changes) { "object change at \(Nanoseconds.format($0.at))" }
            let needed = Set(current.expectations.map(\.subject) + [subject])
            for workload in current.workloads.reversed() {
                guard case .client = workload.kind, !needed.contains(workload.name) else { continue }
                var candidate = current
                candidate.workloads.removeAll { $0.name == workload.name }
                if try stillFails(candidate) {
                    current = candidate
                    removed.append("client \(workload.name)")
                    changed = true
                }
            }
        }
        return Outcome(scenario: current, failure: target, trials: trials, removed: removed)
    }
}
