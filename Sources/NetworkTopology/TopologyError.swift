/// A topology the simulator cannot build, in words that say what to fix.
public struct TopologyError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { "invalid topology: \(message)" }
}
