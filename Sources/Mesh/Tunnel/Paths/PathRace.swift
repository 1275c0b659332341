import NIOCore

/// Dials a peer over several paths, best first, without letting a slow path hold up the
/// others (as "happy eyeballs" does for IPv6 and IPv4): each path starts when the one before it
/// failed or after a head start, whichever comes first. The first handshake to complete wins;
/// later successes are handed to `onConnection` too, so a better path that was merely slower
/// still replaces the one that won.
///
/// A fallback (the relayed path, which works wherever the relay is in reach) may have a head
/// start of its own, counted from the start of the race: when every better path leads into a
/// black hole, the connection is up one fallback head start after the race began instead of a
/// head start per better path, and the better paths go on and replace it if they get through.
///
/// Confined to the host's event loop.
final class PathRace: @unchecked Sendable {
    private let dialers: [any PeerPathDialer]
    private let headStart: TimeAmount
    private let fallbackHeadStart: TimeAmount?
    private let eventLoop: EventLoop
    private let connect: (any PeerPathDialer) -> EventLoopFuture<TunnelConnection>
    private let onConnection: (TunnelConnection) -> Void
    /// Told of each better path that failed after a worse one had already won.
    var onBetterPathFailed: ((String) -> Void)?
    private let promise: EventLoopPromise<(TunnelConnection, failures: [String])>
    private var started: [Bool]
    /// The path the head-start chain started last; the fallback may have started before it.
    private var chainPosition = -1
    private var failures: [String?]
    /// The path that won, once one has.
    private var winner: Int?
    private var headStartTimer: Scheduled<Void>?
    private var fallbackTimer: Scheduled<Void>?

    /// `connect` dials one path and completes its handshake. With `fallbackHeadStart`, the last
    /// of `dialers` also starts that long after the race does, if the chain has not reached it.
    init(dialers: [any PeerPathDialer], headStart: TimeAmount, fallbackHeadStart: TimeAmount? = nil, eventLoop: EventLoop,
         connect: @escaping (any PeerPathDialer) -> EventLoopFuture<TunnelConnection>,
         onConnection: @escaping (TunnelConnection) -> Void) {
        self.dialers = dialers
        self.headStart = headStart
        self.fallbackHeadStart = fallbackHeadStart
        self.eventLoop = eventLoop
        self.connect = connect
        self.onConnection = onConnection
        self.promise = eventLoop.makePromise()
        self.started = Array(repeating: false, count: dialers.count)
        self.failures = Array(repeating: nil, count: dialers.count)
    }

    /// The winning connection with the failures of the better paths before it (in preference
    /// order), or every path's failure.
    func run() -> EventLoopFuture<(TunnelConnection, failures: [String])> {
        if dialers.isEmpty {
            promise.fail(TunnelError.noPath(node: "", attempts: []))
            return promise.futureResult
        }
        if let fallbackHeadStart, dialers.count > 1 {
            fallbackTimer = eventLoop.scheduleTask(in: fallbackHeadStart) { self.start(self.dialers.count - 1) }
        }
        startNext()
        return promise.futureResult
    }

    /// The head-start chain's next path not yet started.
    private func startNext() {
        headStartTimer?.cancel()
        headStartTimer = nil
        guard let next = (chainPosition + 1..<dialers.count).first(where: { !started[$0] }) else { return }
        chainPosition = next
        headStartTimer = eventLoop.scheduleTask(in: headStart) { self.startNext() }
        start(next)
    }

    private func start(_ index: Int) {
        guard !started[index] else { return }
        started[index] = true
        let dialer = dialers[index]
        connect(dialer).whenComplete { result in
            switch result {
            case .success(let connection):
                self.onConnection(connection)
                // The best path so far answered: worse paths not yet started need not start
                // (better ones still do, when the fallback answered ahead of the chain).
                if !self.started[..<index].contains(false) {
                    self.headStartTimer?.cancel()
                    self.headStartTimer = nil
                }
                if index < self.dialers.count - 1 {
                    self.fallbackTimer?.cancel()
                    self.fallbackTimer = nil
                }
                guard self.winner == nil else { return }
                self.winner = index
                let before = self.failures[..<index].compactMap { $0 }.filter { !$0.isEmpty }
                self.promise.succeed((connection, before))
            case .failure(let error):
                let reason: String = switch error {
                case TunnelError.handshakeFailed(_, let reason): reason
                default: "\(error)"
                }
                // A path that does not apply now is no failure to report.
                self.failures[index] = error is PathNotApplicable ? "" : "\(dialer.kind): \(reason)"
                if let winner = self.winner, index < winner, let failure = self.failures[index], !failure.isEmpty {
                    self.onBetterPathFailed?(failure)
                }
                if index == self.chainPosition { self.startNext() }
                if self.failures.allSatisfy({ $0 != nil }) {
                    self.fallbackTimer?.cancel()
                    self.promise.fail(TunnelError.noPath(node: "", attempts: self.failures.compactMap { $0 }.filter { !$0.isEmpty }))
                }
            }
        }
    }
}
