import NetworkTopology

/// Faults the seed draws on top of a scenario's own (`edgemesh sim --chaos LEVEL`): link
/// flaps and outages, node crashes with a later boot, NAT reboots, partitions between two nodes,
/// the cloud going away. Each starts after the first tenth of the run and is over by seven
/// tenths, so the rest of the run shows whether the mesh recovered; each lasts one second to a
/// tenth of the run (at most 30 s). The same scenario, seed and level always draw the same
/// faults, printed with the run so a failing seed tells what was done to it.
public struct ChaosPlan: Sendable {
    public let level: ChaosLevel
    public let faults: [FaultSpec]

    public init(scenario: Scenario, seed: UInt64, level: ChaosLevel) {
        self.level = level
        var random = SplitMix64(seed: seed ^ 0x6368_616f_7321)  // "chaos!": its own stream
        let topology = scenario.topology
        let nodes = topology.nodes.map(\.name)
        let linked = nodes + topology.routers.map(\.name)
        let natRouters = topology.routers.filter { $0.nat != nil }.map(\.name)
        let hasCloud = topology.networks.contains(where: \.isCloud)
        let earliest = scenario.duration / 10, latest = scenario.duration * 7 / 10
        let longest = max(Nanoseconds.second, min(30 * Nanoseconds.second, scenario.duration / 10))

        // Which kinds this topology can take; one is chosen per fault, then only its parameters drawn.
        enum Choice { case flap, linkDown, crash, partition, natReboot, cloudUnreachable }
        var choices: [Choice] = [.flap, .linkDown, .crash]
        if nodes.count > 1 { choices.append(.partition) }
        if !natRouters.isEmpty { choices.append(.natReboot) }
        if hasCloud { choices.append(.cloudUnreachable) }

        var faults: [FaultSpec] = []
        let roomForFaults = latest > earliest + Nanoseconds.second && !nodes.isEmpty
        for _ in 0..<(roomForFaults ? level.faultCount : 0) {
            let duration = Nanoseconds.second + random.next(below: longest - Nanoseconds.second + 1)
            let at = earliest + random.next(below: max(1, latest - earliest - duration))
            switch random.pick(choices) {
            case .flap:
                let kind = FaultSpec.Kind.flap(
                    node: random.pick(linked), down: Nanoseconds.second + random.next(below: 2 * Nanoseconds.second),
                    up: Nanoseconds.second + random.next(below: 4 * Nanoseconds.second))
                faults.append(FaultSpec(at: at, duration: duration, kind: kind))
            case .linkDown:
                faults.append(FaultSpec(at: at, duration: duration, kind: .linkDown(node: random.pick(linked), direction: .both)))
            case .crash:
                faults.append(FaultSpec(at: at, duration: duration, kind: .crash(node: random.pick(nodes))))
            case .partition:
                let a = random.pick(nodes)
                let kind = FaultSpec.Kind.partition(a: [a], b: [random.pick(nodes.filter { $0 != a })], oneWay: false)
                faults.append(FaultSpec(at: at, duration: duration, kind: kind))
            case .natReboot:
                faults.append(FaultSpec(at: at, kind: .natReboot(router: random.pick(natRouters))))
            case .cloudUnreachable:
                faults.append(FaultSpec(at: at, duration: duration, kind: .cloudUnreachable))
            }
        }
        self.faults = faults.sorted { $0.at < $1.at }
    }

    /// One line per drawn fault, in time order: "12.300s for 8.000s: crash edge-a1".
    public var descriptions: [String] {
        faults.map { fault in
            "\(Nanoseconds.format(fault.at))\(fault.duration.map { " for \(Nanoseconds.format($0))" } ?? ""): \(Self.describe(fault.kind))"
        }
    }

    private static func describe(_ kind: FaultSpec.Kind) -> String {
        switch kind {
        case .partition(let a, let b, _): "partition \(a.joined(separator: ",")) | \(b.joined(separator: ","))"
        case .isolate(let node): "isolate \(node)"
        case .linkDown(let node, _): "link of \(node) down"
        case .flap(let node, let down, let up): "link of \(node) flapping (\(Nanoseconds.format(down)) down, \(Nanoseconds.format(up)) up)"
        case .crash(let node): "crash \(node), then boot"
        case .natReboot(let router): "reboot NAT \(router)"
        case .cloudUnreachable: "cloud unreachable"
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
