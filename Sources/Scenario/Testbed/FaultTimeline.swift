import NetworkTopology

/// Plays a scenario's faults on a testbed's timeline: each begins at its time and, when it has
/// a duration, is undone at its end (a flap cycles down and up until then).
public enum FaultTimeline {
    /// Checks every fault's targets now, so a bad name fails before the run rather than in the
    /// middle, then schedules them in order.
    public static func schedule(_ faults: [FaultSpec], on testbed: any ScenarioTestbed) throws {
        for fault in faults {
            try testbed.checkTargets(of: fault.kind)
            let end = fault.duration.map { fault.at + $0 }
            testbed.schedule(at: fault.at) {
                // Targets were checked above; a failure here would be a testbed bug.
                try! begin(fault, end: end, on: testbed)
            }
        }
    }

    private static func begin(_ fault: FaultSpec, end: UInt64?, on testbed: any ScenarioTestbed) throws {
        func atEnd(_ body: @escaping () throws -> Void) {
            if let end { testbed.schedule(at: end) { try! body() } }
        }
        switch fault.kind {
        case .partition(let a, let b, let oneWay):
            let id = try testbed.partition(a, from: b, oneWay: oneWay)
            atEnd { testbed.heal(partition: id) }
        case .cloudUnreachable:
            let id = try testbed.makeCloudUnreachable()
            atEnd { testbed.heal(partition: id) }
        case .isolate(let node):
            try testbed.setLink(of: node, direction: .both, up: false)
            atEnd { try testbed.setLink(of: node, direction: .both, up: true) }
        case .linkDown(let node, let direction):
            try testbed.setLink(of: node, direction: direction, up: false)
            atEnd { try testbed.setLink(of: node, direction: direction, up: true) }
        case .flap(let node, let down, let up):
            func cycle(from start: UInt64) {
                guard end.map({ start < $0 }) ?? true else { return }
                try! testbed.setLink(of: node, direction: .both, up: false)
                let back = end.map { min(start + down, $0) } ?? start + down
                testbed.schedule(at: back) {
                    try! testbed.setLink(of: node, direction: .both, up: true)
                    testbed.schedule(at: back + up) { cycle(from: back + up) }
                }
            }
            cycle(from: fault.at)
        case .degrade(let node, let loss, let latency):
            try testbed.degradeLink(of: node, loss: loss, latency: latency)
            atEnd { try testbed.degradeLink(of: node, loss: 0, latency: 0) }
        case .clockSkew(let node, let offset):
            try testbed.skewClock(of: node, by: offset)
            atEnd { try testbed.skewClock(of: node, by: 0) }
        case .crash(let node):
            try testbed.crash(node)
            atEnd { try testbed.boot(node) }
        case .natReboot(let router):
            try testbed.rebootNAT(router)
        case .addressDown(let node, let address):
            try testbed.setAddress(address, of: node, present: false)
            atEnd { try testbed.setAddress(address, of: node, present: true) }
        }
    }
}
