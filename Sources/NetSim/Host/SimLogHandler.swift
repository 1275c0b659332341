import Logging
import NetworkTopology

/// Log records of simulated hosts, stamped with virtual time and the node's name:
/// `12.345678s edge-1 warning: upstream unreachable [attempt=3]`.
///
/// Wall-clock timestamps would make a deterministic run's output differ from run to run, and
/// would say nothing about when things happened in the simulation.
struct SimLogHandler: LogHandler {
    unowned(unsafe) let simulator: Simulator  // the simulator outlives its hosts' loggers
    let node: String
    var metadata: Logger.Metadata = [:]
    private var ownLevel: Logger.Level?

    init(simulator: Simulator, node: String) {
        self.simulator = simulator
        self.node = node
    }

    /// The simulator's level unless this logger was given its own.
    var logLevel: Logger.Level {
        get { ownLevel ?? simulator.logLevel }
        set { ownLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
        file: String, function: String, line: UInt
    ) {
        let merged = metadata.merging(explicit ?? [:]) { _, new in new }
        // Sorted, so the same run prints the same line.
        let pairs = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let suffix = pairs.isEmpty ? "" : " [\(pairs.joined(separator: " "))]"
        simulator.logSink("\(Nanoseconds.format(simulator.now)) \(node) \(level): \(message)\(suffix)")
    }
}
