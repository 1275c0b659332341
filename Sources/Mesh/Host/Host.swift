import Logging
import NIOCore

/// The whole world as the mesh sees it: one node's clock, randomness, sockets,
/// interfaces, traffic interception, packet interface and durable store.
///
/// Everything in `Mesh` reaches the outside only through a `Host`, so the same code runs on
/// the deterministic simulator (`NetSim`) and on Linux (`LinuxBackend`). Channels handed out
/// are ordinary NIO `Channel`s, so NIO's protocol handlers (HTTP/1, WebSocket, TLS) run on
/// either backend unchanged.
///
/// Threading: a host has one event loop. Mesh code runs on it, and calls into the host from it.
/// It is not a place to block: nothing here waits.
public protocol Host: AnyObject, Sendable {
    /// The node's name, as Kubernetes knows it.
    var name: String { get }

    /// The loop all mesh work on this host runs on. Its `now` and `scheduleTask` are the
    /// host's clock and timers: virtual time in `NetSim`, the monotonic clock on Linux.
    var eventLoop: EventLoop { get }

    /// Wall-clock time, for what must be compared with the outside world (certificate validity,
    /// Kubernetes timestamps). Virtual in `NetSim`. Never use it to measure durations.
    var wallClock: WallClock { get }

    /// The source of every random choice the mesh makes (seeded in `NetSim`).
    var random: MeshRandom { get }

    /// A logger whose records carry the node name (and virtual time in `NetSim`).
    var logger: Logger { get }

    /// The node's interfaces with their addresses, loopback included.
    var interfaces: [NetworkInterface] { get }

    /// Calls `changed` on the event loop whenever an address comes or goes on an interface
    /// (netlink address events on Linux, address changes in NetSim), until the watch is cancelled.
    func watchInterfaces(_ changed: @escaping @Sendable () -> Void) -> InterfaceWatch

    /// Listens for stream (TCP) connections; `childInitializer` configures each accepted channel.
    /// The returned channel is the listener: close it to stop listening.
    func listenStream(
        _ options: StreamListenOptions,
        childInitializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Channel>

    /// Opens a stream (TCP) connection. Fails with `HostError.connectionRefused` when nothing
    /// listens at the destination and `HostError.connectTimeout` when nothing answers in time.
    func connectStream(
        _ options: StreamConnectOptions,
        initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Channel>

    /// Binds a datagram (UDP) socket. Its channel reads and writes `AddressedEnvelope<ByteBuffer>`.
    func bindDatagram(
        _ options: DatagramBindOptions,
        initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Channel>

    /// Where an intercepted stream was originally headed (the service IP and port); `nil` when
    /// the channel was not intercepted. (On Linux this is a `getsockopt`, hence the future.)
    func originalDestination(of channel: Channel) -> EventLoopFuture<SocketAddress?>

    /// Closes a stream connection with a reset (an RST, as `SO_LINGER` 0 makes the kernel send)
    /// instead of an orderly end, so the peer sees a failure: for a connection that cannot be
    /// served, whose client must not mistake the close for an empty answer.
    func resetStream(_ channel: Channel)

    /// "Send traffic for these service addresses to me."
    var interception: TrafficInterception { get }

    /// Opens the node's packet interface for pod networks (see `PacketInterface`); at most one
    /// at a time. `initializer` configures its channel before the first packet is read.
    func openPacketInterface(
        _ options: PacketInterfaceOptions,
        initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<PacketInterface>

    /// A small store that survives restarts of the agent and of the node.
    var store: DurableStore { get }
}

extension Host {
    /// The host's monotonic clock reading.
    public var now: NIODeadline { self.eventLoop.now }

    /// The first IPv4 address of the first interface that is not loopback.
    public var primaryAddress: IPv4Address? {
        self.interfaces.first { !$0.isLoopback }?.ipv4Addresses.first
    }
}
