import NIOCore

/// The gateway's listening sockets: one per port its Gateways declare, opened and closed as the
/// declared ports change. A port that cannot be opened (another process holds it, or the agent
/// may not bind it) is tried again with backoff for as long as it stays declared, so the gateway
/// takes the port by itself once it is free instead of waiting for the next Gateway change.
///
/// Confined to the host's event loop.
final class GatewayListeners: @unchecked Sendable {
    /// A declared port that could not be opened.
    private struct BlockedPort {
        var failedAttempts: Int
        var lastError: String
        var retryAt: NIODeadline
        var retry: Scheduled<Void>
    }

    private let host: any Host
    private let address: IPv4Address
    private let backoff: RetryBackoff
    /// Sets up each accepted connection of a port.
    private let accept: @Sendable (Channel, UInt16) -> EventLoopFuture<Void>
    /// The ports to listen on, each with what it serves (for the log).
    private var declared: [UInt16: String] = [:]
    private var listeners: [UInt16: Channel] = [:]
    private var opening: Set<UInt16> = []
    private var blocked: [UInt16: BlockedPort] = [:]
    private var stopped = false

    init(
        host: any Host, address: IPv4Address, backoff: RetryBackoff,
        accept: @escaping @Sendable (Channel, UInt16) -> EventLoopFuture<Void>
    ) {
        self.host = host
        self.address = address
        self.backoff = backoff
        self.accept = accept
    }

    /// The ports listened on now, ascending.
    var ports: [UInt16] { listeners.keys.sorted() }

    /// One line per declared port that is not open, with why and when it is tried again.
    var problems: [String] {
        blocked.sorted { $0.key < $1.key }.map { port, state in
            let wait = max(0, (state.retryAt - host.now).nanoseconds)
            let seconds = (wait + 999_999_999) / 1_000_000_000
            return "cannot listen on port \(port) (\(state.lastError)); trying again in \(seconds) s "
                + "(\(state.failedAttempts) failed attempt\(state.failedAttempts == 1 ? "" : "s"))"
        }
    }

    /// Listens on exactly `ports` (each with what it serves): closes the others and opens the
    /// missing ones, at once, even those waiting out a backoff, since a change may have freed
    /// them. The future completes when every attempt has; it does not fail for a blocked port.
    func update(to ports: [UInt16: String]) -> EventLoopFuture<Void> {
        guard !stopped else { return host.eventLoop.makeSucceededVoidFuture() }
        declared = ports
        for port in listeners.keys.sorted() where ports[port] == nil {
            listeners.removeValue(forKey: port)?.close(promise: nil)
            host.logger.info("gateway: port \(port) closed (no selected Gateway declares it any more)")
        }
        for port in blocked.keys.sorted() where ports[port] == nil {
            blocked.removeValue(forKey: port)?.retry.cancel()
        }
        let missing = ports.keys.sorted().filter(needsOpening)
        return EventLoopFuture.andAllComplete(missing.map { open($0) }, on: host.eventLoop)
    }

    /// Closes every port and stops retrying.
    func stop() -> EventLoopFuture<Void> {
        stopped = true
        for port in blocked.keys.sorted() { blocked[port]?.retry.cancel() }
        blocked = [:]
        let closing = listeners.keys.sorted().compactMap { listeners[$0]?.close() }
        listeners = [:]
        return EventLoopFuture.andAllComplete(closing, on: host.eventLoop)
    }

    /// Declared, not listened on, and no attempt under way.
    private func needsOpening(_ port: UInt16) -> Bool {
        !stopped && declared[port] != nil && listeners[port] == nil && !opening.contains(port)
    }

    private func open(_ port: UInt16) -> EventLoopFuture<Void> {
        blocked[port]?.retry.cancel()
        opening.insert(port)
        let options = StreamListenOptions(address: address.socketAddress(port: port), allowRemoteHalfClosure: true, backlog: 1024)
        let accept = self.accept
        return host.listenStream(options) { accept($0, port) }.map { listener in
            self.opening.remove(port)
            self.blocked[port] = nil
            guard !self.stopped, let serving = self.declared[port] else {
                listener.close(promise: nil)
                return
            }
            self.listeners[port] = listener
            self.host.logger.info("gateway: listening on \(listener.localAddress.map { "\($0)" } ?? "port \(port)") (\(serving))")
        }.recover { error in
            self.opening.remove(port)
            self.failedToOpen(port, error: error)
        }
    }

    private func failedToOpen(_ port: UInt16, error: Error) {
        guard !stopped, declared[port] != nil else {
            blocked[port] = nil
            return
        }
        let failedAttempts = (blocked[port]?.failedAttempts ?? 0) + 1
        let delay = backoff.delay(attempt: failedAttempts - 1, on: host)
        let retry = host.eventLoop.scheduleTask(in: delay) { [weak self] in
            guard let self, self.needsOpening(port) else { return }
            _ = self.open(port)
        }
        blocked[port] = BlockedPort(failedAttempts: failedAttempts, lastError: "\(error)", retryAt: host.now + delay, retry: retry)
        host.logger.error("gateway: cannot listen on port \(port): \(error); trying again in \(delay.nanoseconds / 1_000_000) ms")
    }
}
