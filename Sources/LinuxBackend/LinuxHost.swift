import Logging
import Mesh
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `Host` over real sockets: NIOPosix channels on one event loop, the system clocks and
/// randomness, the machine's interfaces and a directory as the durable store.
///
/// Every channel it hands out lives on `eventLoop`, and every future it returns completes there.
public final class LinuxHost: Host {
    public let name: String
    public let eventLoop: EventLoop
    public let wallClock: WallClock
    public let random: MeshRandom
    public let logger: Logger
    public let interception: TrafficInterception
    public let store: DurableStore
    /// The bootstrap every connection without a local address is made with, made on first use:
    /// a bootstrap connects any number of times, and one per connection cost an object, its
    /// option storage and an initializer. Touched only on `eventLoop`.
    private let sharedConnectBootstrap: NIOLoopBoundBox<ClientBootstrap?>

    /// - Parameters:
    ///   - storeDirectory: where the durable store keeps one file per key; created on first save.
    ///   - interception: nftables in the agent, a recording double in tests.
    public init(
        name: String,
        eventLoop: EventLoop,
        storeDirectory: String,
        interception: TrafficInterception,
        logger: Logger
    ) {
        var logger = logger
        logger[metadataKey: "node"] = "\(name)"
        self.name = name
        self.eventLoop = eventLoop
        self.wallClock = RealtimeWallClock()
        self.random = MeshRandom(source: SystemEntropySource())
        self.logger = logger
        self.interception = interception
        self.store = DirectoryStore(directory: storeDirectory, eventLoop: eventLoop)
        self.sharedConnectBootstrap = .makeEmptyBox(valueType: ClientBootstrap.self, eventLoop: eventLoop)
    }

    // MARK: Interfaces

    /// A fresh snapshot on every read: addresses come and go (DHCP, the agent's own bridge).
    /// Address changes as the kernel announces them (rtnetlink `RTM_NEWADDR`/`RTM_DELADDR`),
    /// or, where a netlink socket is refused, by comparing `getifaddrs` every 2 s.
    public func watchInterfaces(_ changed: @escaping @Sendable () -> Void) -> InterfaceWatch {
        do {
            let watch = try NetlinkAddressWatch(eventLoop: eventLoop, changed: changed)
            return InterfaceWatch { watch.cancel() }
        } catch {
            logger.warning("no netlink address events (\(error)); interfaces are compared every 2 s instead")
            return pollInterfaces(changed)
        }
    }

    public var interfaces: [NetworkInterface] {
        let devices: [NIONetworkDevice]
        do {
            devices = try NIOCore.System.enumerateDevices()
        } catch {
            logger.warning("cannot enumerate network interfaces: \(error)")
            return []
        }
        var byName: [String: NetworkInterface] = [:]
        for device in devices {
            guard let address = device.address?.ipv4Address else { continue }
            if byName[device.name] != nil {
                byName[device.name]!.ipv4Addresses.append(address)
                continue
            }
            // A missing netmask happens only on point-to-point links: a host route.
            let prefixLength = device.netmask?.ipv4Address?.value.nonzeroBitCount ?? 32
            // NIONetworkDevice carries no IFF_LOOPBACK flag; 127/8 lives only on the loopback device.
            byName[device.name] = NetworkInterface(
                name: device.name,
                ipv4Addresses: [address],
                prefixLength: prefixLength,
                isLoopback: address.isLoopback
            )
        }
        return byName.values.sorted { $0.name < $1.name }
    }

    // MARK: Streams

    public func listenStream(
        _ options: StreamListenOptions,
        childInitializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Channel> {
        // SO_REUSEADDR always: a restarted agent must rebind while old connections sit in TIME_WAIT.
        // It does not let two listeners share a port on Linux; SO_REUSEPORT (asked for) does.
        var bootstrap = ServerBootstrap(group: eventLoop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: Int32(clamping: options.backlog))
            .childChannelInitializer(Self.configuringStream(allowRemoteHalfClosure: options.allowRemoteHalfClosure,
                                                            then: childInitializer))
        if options.reuseAddress {
            bootstrap = bootstrap.serverChannelOption(Self.reusePort, value: 1)
        }
        let address = options.address
        return bootstrap.bind(to: address).flatMapErrorThrowing { error in
            throw Self.hostError(for: error, local: address, remote: nil)
        }
    }

    public func connectStream(
        _ options: StreamConnectOptions,
        initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Channel> {
        var bootstrap = connectBootstrap(local: options.local)
            .connectTimeout(options.connectTimeout)
            .channelInitializer(Self.configuringStream(allowRemoteHalfClosure: options.allowRemoteHalfClosure,
                                                       then: initializer))
        if let local = options.local {
            if options.reuseAddress {
                // Hole punching: dial out from the port a listener of ours is bound to.
                bootstrap = bootstrap
                    .channelOption(.socketOption(.so_reuseaddr), value: 1)
                    .channelOption(Self.reusePort, value: 1)
            }
            bootstrap = bootstrap.bind(to: local)
        }
        let (local, remote) = (options.local, options.remote)
        return bootstrap.connect(to: remote).flatMapErrorThrowing { error in
            throw Self.hostError(for: error, local: local, remote: remote)
        }
    }

    /// The shared bootstrap for a connection from no particular local address, made on the loop;
    /// a fresh one otherwise (a bound one keeps its local address and reuse options). `connect`
    /// reads the timeout and initializer as it starts, so setting them on the shared one just
    /// before each connect, on the loop, cannot mix two connections up.
    private func connectBootstrap(local: SocketAddress?) -> ClientBootstrap {
        guard local == nil, eventLoop.inEventLoop else { return ClientBootstrap(group: eventLoop) }
        if let shared = sharedConnectBootstrap.value { return shared }
        let shared = ClientBootstrap(group: eventLoop)
        sharedConnectBootstrap.value = shared
        return shared
    }

    /// A stream channel's initializer that applies the stream options before `initializer` runs.
    /// Synchronously: as bootstrap channel options, NIO would apply each one through a future
    /// and a closure of its own, on every connection.
    private static func configuringStream(
        allowRemoteHalfClosure: Bool,
        then initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> @Sendable (Channel) -> EventLoopFuture<Void> {
        { channel in
            do {
                // NIOPosix socket channels always have synchronous options; initializers run on their loop.
                guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
                try options.setOption(.allowRemoteHalfClosure, value: allowRemoteHalfClosure)
                try options.setOption(.recvAllocator, value: Self.streamReceiveAllocator)
                try options.setOption(.maxMessagesPerRead, value: Self.streamReadsPerWakeup)
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
            return initializer(channel)
        }
    }

    // MARK: Datagrams

    public func bindDatagram(
        _ options: DatagramBindOptions,
        initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Channel> {
        // NIO's datagram channels read into 2 KiB buffers by default and cut longer datagrams
        // short; a datagram is received whole, up to the largest IPv4 UDP payload, as in NetSim.
        // Up to 16 datagrams per readiness event (NIO's default is 4): a busy socket (the DNS
        // server under load) then costs fewer epoll wake-ups, and the answers written during
        // one batch leave in one sendmmsg. NIO pools receive buffers and reuses one as soon as
        // the handlers have let go of it, so a socket whose handlers copy what they keep (the
        // DNS server does) still holds a single 64 KiB buffer.
        var bootstrap = DatagramBootstrap(group: eventLoop)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_507))
            .channelOption(.maxMessagesPerRead, value: 16)
            .channelInitializer(initializer)
        if options.reuseAddress {
            bootstrap = bootstrap
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelOption(Self.reusePort, value: 1)
        }
        let address = options.address
        return bootstrap.bind(to: address).flatMapErrorThrowing { error in
            throw Self.hostError(for: error, local: address, remote: nil)
        }
    }

    // MARK: Interception

    public func originalDestination(of channel: Channel) -> EventLoopFuture<SocketAddress?> {
        guard let provider = channel as? SocketOptionProvider else {
            return eventLoop.makeSucceededFuture(nil)
        }
        let raw: EventLoopFuture<sockaddr_in> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(IPPROTO_IP),
            name: Self.soOriginalDestination
        )
        // One promise and one callback per connection (a map, a recover and a hop cost three).
        let destination = eventLoop.makePromise(of: SocketAddress?.self)
        raw.whenComplete { result in
            // A failure is ENOENT: conntrack knows no NAT for this connection.
            guard case .success(let address) = result else { return destination.succeed(nil) }
            // No host name: `SocketAddress(address)` would format the address as text for one.
            let original = SocketAddress(address, host: "")
            // With conntrack loaded the kernel answers for every connection; an unrewritten
            // destination is the socket's own address, which means "not intercepted".
            destination.succeed(original == channel.localAddress ? nil : original)
        }
        return destination.futureResult
    }

    /// A TUN device (see `LinuxPacketInterface`); needs CAP_NET_ADMIN.
    public func openPacketInterface(
        _ options: PacketInterfaceOptions,
        initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<PacketInterface> {
        let device: TUNDevice
        let writeDescriptor: CInt
        do {
            device = try TUNDevice.create(name: options.name, mtu: options.mtu)
            writeDescriptor = dup(device.descriptor)
            guard writeDescriptor >= 0 else {
                let code = errno
                close(device.descriptor)
                throw NetworkDeviceError.netlink(operation: "duplicate the descriptor of \(options.name)", errno: code)
            }
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        // One packet per read: a buffer that takes the largest, never shrunk by NIO's adaptive
        // sizing (NIO reuses it while nothing downstream holds on to it).
        let decoder = TUNOffloadDecoder()
        let writer = TUNPacketWriter(descriptor: writeDescriptor, joinSegments: device.segmentationOffload)
        return NIOPipeBootstrap(group: eventLoop)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: TUNDevice.largestRead))
            .channelInitializer { channel in
                do {
                    try channel.pipeline.syncOperations.addHandlers(writer, decoder)
                } catch {
                    close(writeDescriptor)
                    return channel.eventLoop.makeFailedFuture(error)
                }
                return initializer(channel)
            }
            .takingOwnershipOfDescriptor(input: device.descriptor)
            .map { channel in
                LinuxPacketInterface(channel: channel, options: options, device: device, host: self, decoder: decoder, writer: writer)
            }
            .flatMapErrorThrowing { error in
                close(device.descriptor)
                throw error
            }
    }

    public func resetStream(_ channel: Channel) {
        guard let provider = channel as? SocketOptionProvider else {
            channel.close(promise: nil)
            return
        }
        // Linger on, zero seconds: close discards the send queue and answers with an RST.
        provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    // MARK: Errors

    /// Stream reads start small and grow while they fill their buffer, up to 256 KiB rather than
    /// NIO's 64 KiB: a bulk flow through the proxy then costs a quarter of the read calls, while
    /// a quiet connection keeps reading into small buffers. Growing faster (straight to 256 KiB
    /// after one full read) measured no faster for a 4 MB transfer, and would leave a 256 KiB
    /// buffer with every connection whose request once filled 2 KiB.
    private static let streamReceiveAllocator = StreamReceiveAllocator(
        minimum: 64, initial: 2048, maximum: 256 * 1024)

    /// One read per readiness event instead of NIO's four. NIO keeps one receive buffer per read
    /// of a batch for reuse, for as long as the channel lives: four buffers of up to 256 KiB
    /// would keep 1 MiB per side of an idle connection that once carried bulk data; one keeps
    /// 256 KiB, what NIO's defaults keep (4 × 64 KiB), and a batch still moves 256 KiB.
    private static let streamReadsPerWakeup: UInt = 1

    /// SO_ORIGINAL_DST from <linux/netfilter_ipv4.h>, which Glibc does not export.
    private static let soOriginalDestination: SocketOptionName = 80

    /// NIOCore names SO_REUSEADDR but not SO_REUSEPORT.
    private static let reusePort = ChannelOptions.Types.SocketOption(
        level: SocketOptionLevel(SOL_SOCKET),
        name: SocketOptionName(SO_REUSEPORT)
    )

    /// Translates what NIOPosix throws into the `HostError`s the `Host` protocol promises;
    /// anything else passes through unchanged.
    static func hostError(for error: Error, local: SocketAddress?, remote: SocketAddress?) -> Error {
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return hostError(for: first.error, local: local, remote: remote)
        }
        if let error = error as? ChannelError, case .connectTimeout = error, let remote {
            return HostError.connectTimeout(remote)
        }
        guard let error = error as? IOError else { return error }
        switch error.errnoCode {
        case ECONNREFUSED:
            if let remote { return HostError.connectionRefused(remote) }
        case ECONNRESET:
            return HostError.connectionReset
        case EADDRINUSE:
            if let address = local ?? remote { return HostError.addressInUse(address) }
        case EADDRNOTAVAIL:
            // Without a local address this is ephemeral-port exhaustion, not a foreign address.
            if let local { return HostError.addressNotAvailable(local) }
        case ENETUNREACH, EHOSTUNREACH:
            if let remote { return HostError.networkUnreachable(remote) }
        default:
            break
        }
        return error
    }
}

/// CLOCK_REALTIME, read on every access.
struct RealtimeWallClock: WallClock {
    var nanosecondsSinceEpoch: Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
