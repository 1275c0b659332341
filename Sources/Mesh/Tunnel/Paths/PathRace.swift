import NIOCore

/// Dials a peer over several paths, best first, without letting a slow path hold up the
/// others (as "happy eyeballs" does for IPv6 and IPv4): each path starts when the one before it
/// failed or after a head start, whichever comes first. The first handshake to complete wins;
/// later successes are handed to `onConnection` too, so a better path that was merely slower
/// still replaces the one that won.
///
/// Confined to the host's event loop.
final class PathRace: @unchecked Sendable {
    private let dialers: [any PeerPathDialer]
    private let headStart: TimeAmount
    private let eventLoop: EventLoop
    private let connect: (any PeerPathDialer) -> EventLoopFuture<TunnelConnection>
    private let onConnection: (TunnelConnection) -> Void
    private let promise: EventLoopPromise<(TunnelConnection, failures: [String])>
    private var started = 0
    private var failures: [String?]
    private var headStartTimer: Scheduled<Void>?

    /// `connect` dials one path and completes its handshake.
    init(dialers: [any PeerPathDialer], headStart: TimeAmount, eventLoop: EventLoop,
         connect: @escaping (any PeerPathDialer) -> EventLoopFuture<TunnelConnection>,
         onConnection: @escaping (TunnelConnection) -> Void) {
        self.dialers = dialers
        self.headStart = headStart
        self.eventLoop = eventLoop
        self.connect = connect
        self.onConnection = onConnection
        self.promise = eventLoop.makePromise()
        self.failures = Array(repeating: nil, count: dialers.count)
    }

    /// The winning connection with the failures of the better paths before it (in preference
    /// order), or every path's failure.
    func run() -> EventLoopFuture<(TunnelConnection, failures: [String])> {
        startNext()
        if dialers.isEmpty { promise.fail(TunnelError.noPath(node: "", attempts: [])) }
        return promise.futureResult
    }

    private func startNext() {
        headStartTimer?.cancel()
        headStartTimer = nil
        guard started < dialers.count else { return }
        let index = started
        started += 1
        let dialer = dialers[index]
        headStartTimer = eventLoop.scheduleTask(in: headStart) { self.startNext() }
        connect(dialer).whenComplete { result in
            switch result {
            case .success(let connection):
                self.onConnection(connection)
                // The best path so far answered: paths after it need not start.
                if index == self.started - 1 {
                    self.headStartTimer?.cancel()
                    self.headStartTimer = nil
                }
                let before = self.failures[..<index].compactMap { $0 }.filter { !$0.isEmpty }
                self.promise.succeed((connection, before))
            case .failure(let error):
                let reason: String = switch error {
                case TunnelError.handshakeFailed(_, let reason): reason
                default: "\(error)"
                }
                // A path that does not apply now is no failure to report.
                self.failures[index] = error is PathNotApplicable ? "" : "\(dialer.kind): \(reason)"
                if index == self.started - 1 { self.startNext() }
                if self.failures.allSatisfy({ $0 != nil }) {
                    self.promise.fail(TunnelError.noPath(node: "", attempts: self.failures.compactMap { $0 }.filter { !$0.isEmpty }))
                }
            }
        }
    }
}
