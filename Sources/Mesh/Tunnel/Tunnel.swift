import NIOCore

/// Where a tunnel stream ends: a port on an address (a pod, or the node itself) that the agent
/// on `node` dials on the near side's behalf.
public struct TunnelTarget: Hashable, Sendable, CustomStringConvertible {
    /// The node whose agent dials the target (a Kubernetes node name).
    public var node: String
    public var address: IPv4Address
    public var port: UInt16
    public var transport: TransportProtocol

    public init(node: String, address: IPv4Address, port: UInt16, transport: TransportProtocol) {
        self.node = node
        self.address = address
        self.port = port
        self.transport = transport
    }

    public var description: String { "\(transport) \(address):\(port) on node \(node)" }
}

/// Carries traffic to a target on another node: the seam between the proxy and the tunnel.
///
/// The proxy hands every cross-node connection to a `Tunnel`; a node without one dials targets
/// directly (which works only where their addresses are reachable).
public protocol Tunnel: AnyObject, Sendable {
    /// Opens a stream to `target`, on `eventLoop`. The future succeeds once the far agent has
    /// reached the target, with a channel that behaves like the connection it stands for:
    ///
    /// - for a TCP target it reads and writes `ByteBuffer`s of the byte stream, closing its
    ///   output (`close(mode: .output)`) half-closes, and the far end's half-close arrives as
    ///   `ChannelEvent.inputClosed`;
    /// - for a UDP target every `ByteBuffer` written is one datagram to the target and every
    ///   one read is one datagram from it (boundaries kept end to end).
    ///
    /// The future fails with an error that says, in words a user can act on, why the target
    /// could not be reached (no path to the node, the node refused, the target refused, ...).
    func openStream(to target: TunnelTarget, on eventLoop: EventLoop) -> EventLoopFuture<Channel>
}
