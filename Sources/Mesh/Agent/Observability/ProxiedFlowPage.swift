import Foundation

/// What `GET /flows` serves: the proxy's recent flows, oldest first, with how many it has
/// carried in all (so a reader sees how many the ring no longer holds).
public struct ProxiedFlowPage: Sendable, Hashable, Codable {
    /// Flows recorded since the agent started.
    public var recorded: UInt64
    /// The most the page lists (the ring's size).
    public var capacity: Int
    public var flows: [ProxiedFlow]

    public init(recorded: UInt64, capacity: Int, flows: [ProxiedFlow]) {
        self.recorded = recorded
        self.capacity = capacity
        self.flows = flows
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
