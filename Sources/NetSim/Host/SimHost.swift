import Logging
import Mesh
import NIOCore

/// A simulated host as the mesh sees it: the `Host` of one node of a `Simulator`.
///
/// The object outlives crashes of its node (it is "the machine"); what a crash loses is the
/// kernel's sockets and the loop's pending work. The durable store survives.
public final class SimHost: Host, @unchecked Sendable {
    unowned let simulator: Simulator
    let node: SimNode
    let kernel: SimKernel
    public let name: String
    public let random: MeshRandom
    public let wallClock: WallClock
    public let logger: Logger
    public let store: DurableStore
    public let interception: TrafficInterception

    init(simulator: Simulator, node: SimNode, kernel: SimKernel) {
        self.simulator = simulator
        self.node = node
        self.kernel = kernel
        self.name = node.name
        self.random = MeshRandom(source: SimRandom(seed: simulator.seed, label: "host:\(node.name)"))
        self.wallClock = SimWallClock(simulator: simulator, node: node)
        self.logger = Logger(label: "edgemesh.sim") { _ in SimLogHandler(simulator: simulator, node: node.name) }
        self.store = SimDurableStore(loop: node.loop)
        self.interception = SimInterception(kernel: kernel, loop: node.loop)
    }

    public var eventLoop: EventLoop { node.loop }

    /// The node's address on its network.
    public var address: IPv4Address { node.interfaces[0].address }

    public var isPoweredOn: Bool { node.isPoweredOn }

    /// Sockets open on the host now (connections in any state, listeners, datagram sockets).
    public var openSockets: Int { kernel.openSocketCount }

    public var interfaces: [NetworkInterface] {
        var interfaces = [NetworkInterface(name: "lo", ipv4Addresses: [.loopback], prefixLength: 8, isLoopback: true)]
            + node.interfaces.map {
                NetworkInterface(name: $0.name, ipv4Addresses: [$0.address], prefixLength: $0.prefixLength, isLoopback: false)
            }
        // Secondary addresses join their interface, or make one of their own, in the LAN of eth0.
        for (name, address) in node.secondaryAddresses {
            if let index = interfaces.firstIndex(where: { $0.name == name }) {
                interfaces[index].ipv4Addresses.append(address)
            } else {
                interfaces.append(NetworkInterface(
                    name: name, ipv4Addresses: [address], prefixLength: node.interfaces[0].prefixLength, isLoopback: false))
            }
        }
        for (device, address) in node.deviceAddresses {
            interfaces.append(NetworkInterface(name: device, ipv4Addresses: [address], prefixLength: 32, isLoopback: false))
        }
        return interfaces
    }

    public func watchInterfaces(_ changed: @escaping @Sendable () -> Void) -> InterfaceWatch {
        let node = self.node
        let token = node.nextWatcherToken
        node.nextWatcherToken += 1
        node.addressWatchers[token] = changed
        return InterfaceWatch { [weak node] in node?.addressWatchers[token] = nil }
    }

    public func listenStream(
        _ options: StreamListenOptions,
        childInitializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Channel> {
        do {
            let local = try kernel.resolveLocal(
                try endpoint(options.address), transport: .tcp, reuse: options.reuseAddress, listening: true)
            let listener = SimListenerChannel(
                kernel: kernel, local: local, allowRemoteHalfClosure: options.allowRemoteHalfClosure,
                childInitializer: childInitializer)
            listener.startListening()
            return eventLoop.makeSucceededFuture(listener)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    public func connectStream(
        _ options: StreamConnectOptions,
        initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Channel> {
        do {
            let remote = try endpoint(options.remote)
            let local = try kernel.resolveLocal(
                try options.local.map(endpoint), transport: .tcp, reuse: options.reuseAddress)
            let channel = SimStreamChannel(kernel: kernel)
            channel.allowRemoteHalfClosure = options.allowRemoteHalfClosure
            return initializer(channel).flatMap {
                channel.register0(promise: nil)
                return channel.connect(from: local, to: remote, timeout: options.connectTimeout)
            }.map { channel as Channel }
            .flatMapErrorThrowing { error in
                if channel.isOpen { channel.closeCompletely(error: error, promise: nil) }
                throw error
            }
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    public func bindDatagram(
        _ options: DatagramBindOptions,
        initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Channel> {
        do {
            let local = try kernel.resolveLocal(try endpoint(options.address), transport: .udp, reuse: options.reuseAddress)
            let channel = SimDatagramChannel(kernel: kernel, local: local)
            return initializer(channel).map {
                channel.bind()
                return channel as Channel
            }
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    public func originalDestination(of channel: Channel) -> EventLoopFuture<SocketAddress?> {
        guard let stream = channel as? SimStreamChannel, let remote = stream.remote else {
            return eventLoop.makeSucceededFuture(nil)
        }
        return eventLoop.makeSucceededFuture(kernel.originalDestination(transport: .tcp, client: remote)?.socketAddress)
    }

    public func openPacketInterface(
        _ options: PacketInterfaceOptions,
        initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<PacketInterface> {
        guard node.packetDevice == nil else {
            return eventLoop.makeFailedFuture(HostError.unsupported("a second packet interface (close the open one first)"))
        }
        let device = SimPacketDevice(simulator: simulator, node: node, kernel: kernel, options: options)
        return initializer(device.channel).map {
            device.start()
            return device as PacketInterface
        }
    }

    public func resetStream(_ channel: Channel) {
        guard let stream = channel as? SimStreamChannel else {
            channel.close(promise: nil)
            return
        }
        stream.reset()
    }

    private func endpoint(_ address: SocketAddress) throws -> Endpoint {
        guard let endpoint = Endpoint(address) else {
            throw HostError.unsupported("the simulator speaks IPv4 only; got \(address)")
        }
        return endpoint
    }
}
