/// The two directions of a node's attachment to a network.
public struct LinkSpec: Hashable, Sendable {
    /// Node to network.
    public var up: LinkProfile
    /// Network to node.
    public var down: LinkProfile

    public init(up: LinkProfile = .ideal, down: LinkProfile = .ideal) {
        self.up = up
        self.down = down
    }

    public init(both: LinkProfile) {
        self.init(up: both, down: both)
    }

    public static let ideal = LinkSpec()
}
