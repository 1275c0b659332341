import NIOCore

/// How a byte stream between two agents was made: what `edgemesh status` and scenario
/// expectations report for a peer.
public enum PeerPathKind: String, Hashable, Sendable, CaseIterable, Comparable, Codable {
    /// Both ends are the same node.
    case local
    /// A connection to an address of the peer (same LAN, or a public address).
    case direct
    /// A connection through both NATs, made by a simultaneous open the relay coordinated.
    case holePunched = "hole-punched"
    /// Spliced through a relay node; the relay sees only ciphertext.
    case relayed

    public static func < (lhs: PeerPathKind, rhs: PeerPathKind) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One way to reach a peer agent with a raw byte stream; the tunnel runs its handshake and
/// encryption on top. The tunnel owns a dialer per path kind and picks among them.
public protocol PeerPathDialer: AnyObject, Sendable {
    var kind: PeerPathKind { get }

    /// Opens a raw byte stream (a channel reading and writing `ByteBuffer`s) to the agent on
    /// `node`. Fails with an error that says why this path does not reach it.
    func dial(node: String) -> EventLoopFuture<Channel>
}

/// What a dialer fails with when its path does not apply now (say, one that works only while
/// the relays are out of reach): the tunnel moves on without reporting it as a failure.
public struct PathNotApplicable: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Receives raw byte streams that peers opened to this agent (accepted directly, punched or
/// relayed); the tunnel answers the handshake on each.
public typealias PeerStreamAcceptor = @Sendable (Channel, PeerPathKind) -> Void
