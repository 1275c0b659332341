import Logging
import NIOCore

/// Keeps the offline snapshot of a `ServiceTable` in a durable store.
///
/// Saves are coalesced: the first change after a save starts a timer of `interval` on the
/// table's loop, changes during it ride along, and when it fires the table's state at that
/// moment is saved. So a burst of changes costs one write, at most one write happens per
/// interval, and the last state is always written. Saves never overlap; a failed save (a full
/// disk) is retried after the interval doubled per failure in a row, up to
/// `maximumRetryDelay`, and logged when it starts failing and when it recovers. A flush during
/// a save waits for it, then writes whatever changed since.
public final class ServiceTableSnapshotter {
    public let table: ServiceTable
    public let store: DurableStore
    public let key: String
    public let interval: TimeAmount
    /// The longest wait between tries while the store keeps failing.
    public let maximumRetryDelay: TimeAmount
    private let logger: Logger
    /// Saves that failed in a row (0 while the store works).
    private var failuresInARow = 0
    /// The save under way, for a flush to wait on.
    private var currentSave: EventLoopFuture<Void>?
    private var subscription: ServiceTable.Subscription?
    /// The timer that will save, if one is armed. Timers are disarmed by forgetting their id,
    /// never by `Scheduled.cancel()`: NetSim's loop leaves a cancelled task's promise
    /// unfulfilled, which NIO's debug checks treat as a leak.
    private let includingSecrets: Bool
    private var armedTimer: UInt64?
    private var lastTimerID: UInt64 = 0
    private var saving = false
    /// The table changed since the state last handed to the store.
    private var dirty = false

    /// `includingSecrets` writes the gateway's own certificates into the snapshot too (see
    /// `ServiceTable.snapshot(includingSecrets:)`), so it serves HTTPS after an offline restart.
    public init(
        table: ServiceTable, store: DurableStore, key: String = ServiceTable.snapshotKey,
        interval: TimeAmount = .seconds(1), maximumRetryDelay: TimeAmount = .seconds(300), includingSecrets: Bool = false,
        logger: Logger
    ) {
        self.maximumRetryDelay = maximumRetryDelay
        self.includingSecrets = includingSecrets
        self.table = table
        self.store = store
        self.key = key
        self.interval = interval
        self.logger = logger
    }

    /// Starts following the table's changes.
    public func start() {
        table.eventLoop.preconditionInEventLoop()
        guard subscription == nil else { return }
        subscription = table.subscribe { [weak self] _ in
            guard let self else { return }
            self.dirty = true
            self.scheduleIfNeeded()
        }
    }

    /// Stops following changes; a pending save is dropped (call `flush()` first to keep it).
    public func stop() {
        table.eventLoop.preconditionInEventLoop()
        subscription?.cancel()
        subscription = nil
        armedTimer = nil
    }

    /// Saves the current state now (for a clean shutdown). When a save is under way, waits for
    /// it and then saves again if the table changed meanwhile, so the last state is written.
    public func flush() -> EventLoopFuture<Void> {
        table.eventLoop.preconditionInEventLoop()
        armedTimer = nil
        guard let currentSave else { return save() }
        return currentSave.flatMapError { _ in self.table.eventLoop.makeSucceededVoidFuture() }.flatMap {
            self.armedTimer = nil
            return self.dirty ? self.save() : self.table.eventLoop.makeSucceededVoidFuture()
        }
    }

    /// How long until the next save: the interval, doubled for each failure in a row.
    private var delay: TimeAmount {
        guard failuresInARow > 0 else { return interval }
        let doubled = interval.nanoseconds << Int64(min(failuresInARow, 30))
        return .nanoseconds(min(doubled, maximumRetryDelay.nanoseconds))
    }

    private func scheduleIfNeeded() {
        guard dirty, armedTimer == nil, !saving, subscription != nil else { return }
        lastTimerID += 1
        let id = lastTimerID
        armedTimer = id
        table.eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
            guard let self, self.armedTimer == id else { return }
            self.armedTimer = nil
            _ = self.save()
        }
    }

    private func save() -> EventLoopFuture<Void> {
        let loop = table.eventLoop
        guard !saving else { return loop.makeSucceededVoidFuture() }
        let bytes: ByteBuffer
        do {
            bytes = try table.snapshot(includingSecrets: includingSecrets).encoded()
        } catch {
            // Only a model value JSON cannot express gets here; retrying would fail the same way.
            logger.error("cannot encode the service-table snapshot: \(error)")
            return loop.makeFailedFuture(error)
        }
        dirty = false
        saving = true
        let saved = store.save(key, bytes).hop(to: loop)
        currentSave = saved
        saved.assumeIsolated().whenComplete { [weak self] result in
            guard let self else { return }
            self.saving = false
            self.currentSave = nil
            switch result {
            case .failure(let error):
                self.failuresInARow += 1
                self.dirty = true
                if self.failuresInARow == 1 {
                    self.logger.warning("saving the service-table snapshot failed; retrying with backoff up to \(self.maximumRetryDelay): \(error)")
                }
            case .success:
                if self.failuresInARow > 0 {
                    self.logger.notice("service-table snapshot saved again after \(self.failuresInARow) failed tries")
                }
                self.failuresInARow = 0
            }
            self.scheduleIfNeeded()
        }
        return saved
    }
}
