import Logging
import NIOCore

/// Keeps the offline snapshot of a `ServiceTable` in a durable store.
///
/// Saves are coalesced: the first change after a save starts a timer of `interval` on the
/// table's loop, changes during it ride along, and when it fires the table's state at that
/// moment is saved. So a burst of changes costs one write, at most one write happens per
/// interval, and the last state is always written. Saves never overlap; a failed save is
/// logged and retried after another interval.
public final class ServiceTableSnapshotter {
    public let table: ServiceTable
    public let store: DurableStore
    public let key: String
    public let interval: TimeAmount
    private let logger: Logger
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
        interval: TimeAmount = .seconds(1), includingSecrets: Bool = false, logger: Logger
    ) {
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

    /// Saves the current state now (for a clean shutdown), unless a save is already under way.
    public func flush() -> EventLoopFuture<Void> {
        table.eventLoop.preconditionInEventLoop()
        armedTimer = nil
        return save()
    }

    private func scheduleIfNeeded() {
        guard dirty, armedTimer == nil, !saving else { return }
        lastTimerID += 1
        let id = lastTimerID
        armedTimer = id
        table.eventLoop.assumeIsolated().scheduleTask(in: interval) { [weak self] in
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
        saved.assumeIsolated().whenComplete { [weak self] result in
            guard let self else { return }
            self.saving = false
            if case .failure(let error) = result {
                self.logger.warning("saving the service-table snapshot failed, retrying in \(self.interval): \(error)")
                self.dirty = true
            }
            self.scheduleIfNeeded()
        }
        return saved
    }
}
