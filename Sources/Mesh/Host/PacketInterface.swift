import NIOCore

/// How to open the node's packet interface.
public struct PacketInterfaceOptions: Hashable, Sendable {
    /// The device's name (a TUN device on Linux). Starts with `edgemesh`, so the tunnel's and the
    /// gateway's listeners leave its addresses out as they do other container interfaces.
    public var name: String
    /// The largest IPv4 packet either way, in bytes. The host's routes through the device carry
    /// it, so local senders size their segments to fit (TCP's MSS follows the route's MTU).
    public var mtu: Int

    public init(name: String = "edgemesh-pod0", mtu: Int = 1400) {
        self.name = name
        self.mtu = mtu
    }
}

/// "Deliver these IP prefixes to me as packets; send these packets out": the device the edge
/// CNI carries pod traffic through (a TUN device on Linux, a routing hook of the node in
/// `NetSim`).
///
/// `channel` reads and writes `ByteBuffer`s, each exactly one IPv4 packet with no link header.
/// What it reads are packets the node sends or forwards to a routed prefix; what is written to
/// it the node routes as if it had arrived on a device (to a local pod, or to the node itself).
/// A packet that is not IPv4, or longer than `mtu`, is dropped by the host, never delivered
/// half. Close the channel to remove the device and its routes.
public protocol PacketInterface: AnyObject, Sendable {
    var channel: Channel { get }
    var options: PacketInterfaceOptions { get }
    /// The prefixes routed into the device now.
    var routes: [IPv4Prefix] { get }
    /// Replaces the routed prefixes: once the future succeeds, exactly `prefixes` lead into the
    /// device. Fails when the host refuses a route (one that overlaps the node's own networks:
    /// then nothing changed) or cannot install one (then `routes` says what is routed).
    func route(_ prefixes: [IPv4Prefix]) -> EventLoopFuture<Void>
    /// Batching and drops below the mesh; read on the channel's event loop.
    var statistics: PacketInterfaceStatistics { get }
}
