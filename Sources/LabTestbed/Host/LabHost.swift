import LinuxBackend
import Logging
import Mesh
import NIOCore

/// A node of a lab run as the scenario layer's workloads and test API server see it: a
/// `LinuxHost` whose sockets are made inside the node's network namespace.
///
/// Every lab host shares the run's one event loop, so workloads run one callback at a time as
/// they do in the simulator. The loop's thread steps into the node's namespace for exactly as
/// long as it takes to create a socket (NIO creates it synchronously in `bind`/`connect`); a
/// socket stays in the namespace it was made in, so everything after happens on the node.
final class LabHost: Host, @unchecked Sendable {
    private let base: LinuxHost
    private let namespace: NetworkNamespace
    private let home: NetworkNamespace

    /// - Parameters:
    ///   - home: the namespace the loop's thread lives in between sockets.
    init(name: String, eventLoop: EventLoop, namespace: NetworkNamespace, home: NetworkNamespace, storeDirectory: String, logger: Logger) {
        self.base = LinuxHost(
            name: name, eventLoop: eventLoop, storeDirectory: storeDirectory,
            interception: DisabledInterception(eventLoop: eventLoop), logger: logger)
        self.namespace = namespace
        self.home = home
    }

    var name: String { base.name }
    var eventLoop: EventLoop { base.eventLoop }
    var wallClock: WallClock { base.wallClock }
    var random: MeshRandom { base.random }
    var logger: Logger { base.logger }
    var interception: TrafficInterception { base.interception }
    var store: DurableStore { base.store }

    var interfaces: [NetworkInterface] {
        precondition(eventLoop.inEventLoop, "a lab host is used on the run's loop only")
        return (try? namespace.perform(returningTo: home) { base.interfaces }) ?? []
    }

    func watchInterfaces(_ changed: @escaping @Sendable () -> Void) -> InterfaceWatch {
        pollInterfaces(changed)
    }

    func listenStream(
        _ options: StreamListenOptions, childInitializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Channel> {
        inNamespace { $0.listenStream(options, childInitializer: childInitializer) }
    }

    func connectStream(
        _ options: StreamConnectOptions, initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Channel> {
        inNamespace { $0.connectStream(options, initializer: initializer) }
    }

    func bindDatagram(
        _ options: DatagramBindOptions, initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Channel> {
        inNamespace { $0.bindDatagram(options, initializer: initializer) }
    }

    func originalDestination(of channel: Channel) -> EventLoopFuture<SocketAddress?> { base.originalDestination(of: channel) }

    func resetStream(_ channel: Channel) { base.resetStream(channel) }

    /// Workloads have no packet interface: in the lab the agent is a process of its own, in the
    /// node's namespace, and opens its TUN device there.
    func openPacketInterface(
        _ options: PacketInterfaceOptions, initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<PacketInterface> {
        eventLoop.makeFailedFuture(HostError.unsupported("a packet interface for a lab workload (the agent process opens its own)"))
    }

    /// Creates the socket `make` asks for inside the node's namespace, on the loop's thread.
    private func inNamespace(_ make: @escaping (LinuxHost) -> EventLoopFuture<Channel>) -> EventLoopFuture<Channel> {
        guard eventLoop.inEventLoop else {
            return eventLoop.flatSubmit { self.inNamespace(make) }
        }
        do {
            return try namespace.perform(returningTo: home) { make(base) }
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }
}
