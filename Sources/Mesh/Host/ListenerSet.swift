import NIOCore

/// A component's listening sockets (the gateway's, the tunnel's): one per port it wants and
/// address it listens on (every address through `0.0.0.0`, or those its `InterfaceAddressFilter`
/// chooses, followed as the host's addresses come and go), opened and closed as the wanted ports
/// and the chosen addresses change. A socket that cannot be opened (another
/// process holds the port, or the agent may not bind it) is tried again with backoff for as
/// long as it stays wanted, so the port is taken by itself once it is free instead of waiting
/// for the next change.
///
/// Confined to the host's event loop.
final class ListenerSet: @unchecked Sendable {
    /// One listening socket: a port on an address (`0.0.0.0` for all).
    struct Socket: Hashable, Comparable, CustomStringConvertible {
        var address: IPv4Address
        var port: UInt16

        static func < (lhs: Socket, rhs: Socket) -> Bool {
            (lhs.port, lhs.address.value) < (rhs.port, rhs.address.value)
        }

        var description: String { address == .any ? "port \(port)" : "\(address):\(port)" }
    }

    /// A wanted socket that could not be opened.
    private struct BlockedPort {
        var failedAttempts: Int
        var lastError: String
        var retryAt: NIODeadline
        var retry: Scheduled<Void>
    }

    private let host: any Host
    /// Who listens, for the log ("gateway", "tunnel").
    private let owner: String
    private let listenOptions: StreamListenOptions
    /// Which of the host's addresses are listened on.
    private let listenOn: InterfaceAddressFilter
    /// The host's addresses and which were chosen (empty when `listenOn` takes them all).
    private(set) var addressChoices: [InterfaceAddressFilter.Choice] = []
    private var interfaceWatch: InterfaceWatch?
    /// The addresses listened on: `[.any]` unless `listenOn` leaves some out.
    private var addresses: [IPv4Address] = [.any]
    private let backoff: RetryBackoff
    /// Sets up each accepted connection of a port.
    private let accept: @Sendable (Channel, UInt16) -> EventLoopFuture<Void>
    /// The ports to listen on, each with what it serves (for the log).
    private var declared: [UInt16: String] = [:]
    private var listeners: [Socket: Channel] = [:]
    private var opening: Set<Socket> = []
    private var blocked: [Socket: BlockedPort] = [:]
    private var stopped = false

    /// `options` are those of every socket but its address.
    init(
        owner: String, host: any Host, listenOn: InterfaceAddressFilter = .everything, options: StreamListenOptions,
        backoff: RetryBackoff, accept: @escaping @Sendable (Channel, UInt16) -> EventLoopFuture<Void>
    ) {
        self.owner = owner
        self.host = host
        self.listenOn = listenOn
        self.listenOptions = options
        self.backoff = backoff
        self.accept = accept
    }

    /// The ports listened on now (on at least one address), ascending.
    var ports: [UInt16] { Set(listeners.keys.map(\.port)).sorted() }

    /// The sockets open now, by port then address.
    var sockets: [Socket] { listeners.keys.sorted() }

    /// One line per wanted socket that is not open, with why and when it is tried again.
    var problems: [String] {
        blocked.sorted { $0.key < $1.key }.map { socket, state in
            let wait = max(0, (state.retryAt - host.now).nanoseconds)
            let seconds = (wait + 999_999_999) / 1_000_000_000
            return "cannot listen on \(socket) (\(state.lastError)); trying again in \(seconds) s "
                + "(\(state.failedAttempts) failed attempt\(state.failedAttempts == 1 ? "" : "s"))"
        }
    }

    /// Listens on exactly `ports` (each with what it serves) on the chosen addresses: closes the
    /// other sockets and opens the missing ones, at once, even those waiting out a backoff, since
    /// a change may have freed them. The future completes when every attempt has; it does not
    /// fail for a blocked socket.
    func update(to ports: [UInt16: String]) -> EventLoopFuture<Void> {
        guard !stopped else { return host.eventLoop.makeSucceededVoidFuture() }
        declared = ports
        if !listenOn.takesEverything && interfaceWatch == nil {
            interfaceWatch = host.watchInterfaces { [weak self] in self?.followAddresses() }
            chooseAddresses()
        }
        return openAndCloseSockets()
    }

    /// The host's addresses changed: the sockets follow the addresses chosen now.
    private func followAddresses() {
        guard !stopped else { return }
        chooseAddresses()
        _ = openAndCloseSockets()
    }

    private func chooseAddresses() {
        let previous = addressChoices
        addressChoices = listenOn.choose(from: host.interfaces)
        if addressChoices != previous {
            host.logger.info("\(owner): addresses \(addressChoices.map(\.description).joined(separator: "; "))")
        }
        addresses = addressChoices.filter { $0.leftOutBecause == nil }.map(\.address)
    }

    /// Closes the sockets no longer wanted and opens the missing ones.
    private func openAndCloseSockets() -> EventLoopFuture<Void> {
        let ports = declared
        let wanted = Set(self.addresses.flatMap { address in ports.keys.map { Socket(address: address, port: $0) } })
        for socket in listeners.keys.sorted() where !wanted.contains(socket) {
            listeners.removeValue(forKey: socket)?.close(promise: nil)
            let why = ports[socket.port] == nil ? "no longer wanted" : "the address is no longer listened on"
            host.logger.info("\(owner): \(socket) closed (\(why))")
        }
        for socket in blocked.keys.sorted() where !wanted.contains(socket) {
            blocked.removeValue(forKey: socket)?.retry.cancel()
        }
        let missing = wanted.sorted().filter(needsOpening)
        return EventLoopFuture.andAllComplete(missing.map { open($0) }, on: host.eventLoop)
    }

    /// Closes every port and stops retrying.
    func stop() -> EventLoopFuture<Void> {
        stopped = true
        interfaceWatch?.cancel()
        interfaceWatch = nil
        for socket in blocked.keys.sorted() { blocked[socket]?.retry.cancel() }
        blocked = [:]
        let closing = listeners.keys.sorted().compactMap { listeners[$0]?.close() }
        listeners = [:]
        return EventLoopFuture.andAllComplete(closing, on: host.eventLoop)
    }

    /// Wanted, not open, and no attempt under way.
    private func needsOpening(_ socket: Socket) -> Bool {
        !stopped && isWanted(socket) && listeners[socket] == nil && !opening.contains(socket)
    }

    private func isWanted(_ socket: Socket) -> Bool {
        declared[socket.port] != nil && addresses.contains(socket.address)
    }

    private func open(_ socket: Socket) -> EventLoopFuture<Void> {
        blocked[socket]?.retry.cancel()
        opening.insert(socket)
        var options = listenOptions
        options.address = socket.address.socketAddress(port: socket.port)
        let accept = self.accept
        let port = socket.port
        return host.listenStream(options) { accept($0, port) }.map { listener in
            self.opening.remove(socket)
            self.blocked[socket] = nil
            guard !self.stopped, self.isWanted(socket), let serving = self.declared[port] else {
                listener.close(promise: nil)
                return
            }
            self.listeners[socket] = listener
            self.host.logger.info("\(self.owner): listening on \(listener.localAddress.map { "\($0)" } ?? "\(socket)") (\(serving))")
        }.recover { error in
            self.opening.remove(socket)
            self.failedToOpen(socket, error: error)
        }
    }

    private func failedToOpen(_ socket: Socket, error: Error) {
        guard !stopped, isWanted(socket) else {
            blocked[socket] = nil
            return
        }
        let failedAttempts = (blocked[socket]?.failedAttempts ?? 0) + 1
        let delay = backoff.delay(attempt: failedAttempts - 1, on: host)
        let retry = host.eventLoop.scheduleTask(in: delay) { [weak self] in
            guard let self, self.needsOpening(socket) else { return }
            _ = self.open(socket)
        }
        blocked[socket] = BlockedPort(failedAttempts: failedAttempts, lastError: "\(error)", retryAt: host.now + delay, retry: retry)
        host.logger.error("\(owner): cannot listen on \(socket): \(error); trying again in \(delay.nanoseconds / 1_000_000) ms")
    }
}
