import NIOCore
import NetworkTopology

/// What a run's picture needs beyond its report: which tunnel path each agent held to each
/// peer, second by second, as segments of one kind of path. Sampled on the testbed's schedule
/// (reading the agents' status only), so a run with a timeline is the same run as without.
public final class RunTimeline {
    /// One stretch of time an agent held one kind of path to a peer ("none": no connection;
    /// "down": the agent itself was not running).
    public struct PathSegment: Sendable, Hashable {
        public var from: UInt64
        public var to: UInt64
        public var path: String
    }

    public let scenario: Scenario
    private let testbed: any ScenarioTestbed
    /// Per "node → peer", in time order.
    public private(set) var paths: [String: [PathSegment]] = [:]
    /// How often the paths are read.
    public static let sampleInterval = Nanoseconds.second

    public init(scenario: Scenario, testbed: any ScenarioTestbed) {
        self.scenario = scenario
        self.testbed = testbed
    }

    /// Schedules the samples over the whole run; call before it starts.
    public func start() {
        guard let agents = scenario.mesh?.agents, scenario.mesh?.tunnel == true, agents.count > 1 else { return }
        for time in stride(from: 0, through: scenario.duration, by: Int(Self.sampleInterval)) {
            testbed.schedule(at: time) { [weak self] in self?.sample(agents, at: time) }
        }
    }

    private func sample(_ agents: [String], at time: UInt64) {
        for node in agents {
            let running = testbed.isAgentRunning(on: node)
            for peer in agents where peer != node {
                let path = running ? (testbed.tunnelPath(from: node, to: peer) ?? "none") : "down"
                let key = "\(node) → \(peer)"
                if var segments = paths[key], let last = segments.last, last.path == path {
                    segments[segments.count - 1].to = time + Self.sampleInterval
                    paths[key] = segments
                } else {
                    paths[key, default: []].append(PathSegment(from: time, to: time + Self.sampleInterval, path: path))
                }
            }
        }
    }
}
