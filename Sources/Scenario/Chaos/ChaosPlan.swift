import NetworkTopology

/// Faults the seed draws on top of a scenario's own (`edgemesh sim --chaos LEVEL`, or a file's
/// `chaos:` section): link flaps, outages, loss bursts and latency spikes, node and relay
/// crashes with a later boot, NAT reboots, partitions between two nodes, the cloud going away,
/// clock skew, and manifest churn (objects deleted, narrowed or malformed, then put back).
/// Each lies within the `ChaosSpec` bounds, so the run keeps time to settle and be judged. The
/// same scenario, seed and bounds always draw the same faults, printed with the run so a
/// failing seed tells what was done to it.
public struct ChaosPlan: Sendable {
    /// One drawn fault: a network fault, or object changes (churn), with its words.
    public struct Drawn: Sendable, Hashable {
        public var at: UInt64
        public var duration: UInt64?
        public var fault: FaultSpec?
        public var changes: [ObjectChangeSpec]
        public var description: String

        public var end: UInt64 { at + (duration ?? 0) }
    }

    public let level: ChaosLevel
    public let bounds: ChaosSpec
    /// In time order.
    public let drawn: [Drawn]

    /// The faults of `scenario.chaos` (or the defaults), as many as `level` says (as the bounds
    /// say for `.file`), drawn from `seed`.
    public init(scenario: Scenario, seed: UInt64, level: ChaosLevel = .file) {
        var bounds = scenario.chaos ?? ChaosSpec.defaults(duration: scenario.duration)
        if let count = level.faultCount { bounds.faults = count }
        self.level = level
        self.bounds = bounds
        var random = SplitMix64(seed: seed ^ 0x6368_616f_7321)  // "chaos!": its own stream
        let topology = scenario.topology
        let allowed = { (name: String) in bounds.targets?.contains(name) ?? true }
        let nodes = topology.nodes.map(\.name).filter(allowed)
        let linked = nodes + topology.routers.map(\.name).filter(allowed)
        let natRouters = topology.routers.filter { $0.nat != nil }.map(\.name).filter(allowed)
        let relays = (scenario.mesh?.relays ?? []).filter(allowed)
        let churn = ManifestChurn(manifests: scenario.manifests)
        let hasCloud = topology.networks.contains(where: \.isCloud)

        // Which kinds this topology can take; one is chosen per fault, then only its parameters drawn.
        let kinds = bounds.kinds.filter { kind in
            switch kind {
            case .flap, .linkDown, .degrade: !linked.isEmpty
            case .crash, .clockSkew: !nodes.isEmpty
            case .relayCrash: !relays.isEmpty
            case .partition: nodes.count > 1
            case .natReboot: !natRouters.isEmpty
            case .cloudUnreachable: hasCloud
            case .manifestChurn: scenario.mesh != nil
            }
        }
        let longest = max(Nanoseconds.second, min(bounds.longest, bounds.until - bounds.from))
        var drawn: [Drawn] = []
        for index in 0..<(kinds.isEmpty ? 0 : bounds.faults) {
            let duration = Nanoseconds.second + random.next(below: longest - Nanoseconds.second + 1)
            let at = bounds.from + random.next(below: max(1, bounds.until - bounds.from - duration))
            func fault(_ kind: FaultSpec.Kind, lasting: Bool = true) -> Drawn {
                let fault = FaultSpec(at: at, duration: lasting ? duration : nil, kind: kind)
                return Drawn(at: at, duration: fault.duration, fault: fault, changes: [], description: Self.describe(kind))
            }
            switch random.pick(kinds) {
            case .flap:
                drawn.append(fault(.flap(
                    node: random.pick(linked), down: Nanoseconds.second + random.next(below: 2 * Nanoseconds.second),
                    up: Nanoseconds.second + random.next(below: 4 * Nanoseconds.second))))
            case .linkDown:
                drawn.append(fault(.linkDown(node: random.pick(linked), direction: .both)))
            case .degrade:
                // A loss burst, a latency spike, or both.
                let shape = random.next(below: 3)
                let loss = shape == 1 ? 0 : 0.05 + Double(random.next(below: 1000)) / 1000 * max(0, bounds.maxLoss - 0.05)
                let latency = shape == 0 ? 0 : random.next(below: bounds.maxLatency + 1)
                drawn.append(fault(.degrade(node: random.pick(linked), loss: loss, latency: max(latency, shape == 0 ? 0 : Nanoseconds.millisecond))))
            case .crash:
                drawn.append(fault(.crash(node: random.pick(nodes))))
            case .relayCrash:
                drawn.append(fault(.crash(node: random.pick(relays))))
            case .partition:
                let a = random.pick(nodes)
                drawn.append(fault(.partition(a: [a], b: [random.pick(nodes.filter { $0 != a })], oneWay: false)))
            case .natReboot:
                drawn.append(fault(.natReboot(router: random.pick(natRouters)), lasting: false))
            case .cloudUnreachable:
                drawn.append(fault(.cloudUnreachable))
            case .clockSkew:
                let magnitude = Int64(random.next(below: bounds.maxSkew + 1))
                drawn.append(fault(.clockSkew(node: random.pick(nodes), offset: random.next(below: 2) == 0 ? magnitude : -magnitude)))
            case .manifestChurn:
                let (changes, description) = churn.draw(at: at, duration: duration, index: index, random: &random)
                drawn.append(Drawn(at: at, duration: duration, fault: nil, changes: changes, description: description))
            }
        }
        self.drawn = drawn.sorted { ($0.at, $0.description) < ($1.at, $1.description) }
    }

    public var faults: [FaultSpec] { drawn.compactMap(\.fault) }
    public var changes: [ObjectChangeSpec] { drawn.flatMap(\.changes) }

    /// When the run has settled: the last drawn fault's end plus the settle time (the start of
    /// the bounds' window when nothing was drawn).
    public var settlesAt: UInt64 { (drawn.map(\.end).max() ?? bounds.from) + bounds.settle }

    /// One line per drawn fault, in time order: "12.300s for 8.000s: crash edge-a1, then boot".
    public var descriptions: [String] {
        drawn.map { "\(Nanoseconds.format($0.at))\($0.duration.map { " for \(Nanoseconds.format($0))" } ?? ""): \($0.description)" }
    }

    /// `scenario` with these faults and changes added to its own, judged once it settles.
    public func applied(to scenario: Scenario) -> Scenario {
        var played = scenario
        played.faults = (scenario.faults + faults).sorted { $0.at < $1.at }
        played.changes = (scenario.changes + changes).sorted { $0.at < $1.at }
        played.settlesAt = settlesAt
        return played
    }

    static func describe(_ kind: FaultSpec.Kind) -> String {
        switch kind {
        case .partition(let a, let b, _): "partition \(a.joined(separator: ",")) | \(b.joined(separator: ","))"
        case .isolate(let node): "isolate \(node)"
        case .linkDown(let node, _): "link of \(node) down"
        case .flap(let node, let down, let up): "link of \(node) flapping (\(Nanoseconds.format(down)) down, \(Nanoseconds.format(up)) up)"
        case .degrade(let node, let loss, let latency):
            "link of \(node) degraded ("
                + [loss > 0 ? "+\(ScenarioJudge.format(loss * 100))% loss" : nil, latency > 0 ? "+\(Nanoseconds.format(latency)) latency" : nil]
                .compactMap { $0 }.joined(separator: ", ") + ")"
        case .clockSkew(let node, let offset):
            "clock of \(node) \(Nanoseconds.format(offset.magnitude)) \(offset < 0 ? "behind" : "ahead")"
        case .crash(let node): "crash \(node), then boot"
        case .natReboot(let router): "reboot NAT \(router)"
        case .cloudUnreachable: "cloud unreachable"
        case .addressDown(let node, let address): "address \(address) of \(node) down"
        }
    }
}

/// A small seeded generator (SplitMix64) of the scenario layer's own, so a draw depends only on
/// the seed, never on a testbed's generators.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (bound ≥ 1).
    mutating func next(below bound: UInt64) -> UInt64 {
        next() % max(1, bound)
    }

    mutating func pick<T>(_ choices: [T]) -> T {
        choices[Int(next(below: UInt64(choices.count)))]
    }
}
