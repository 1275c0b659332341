import Logging
import Mesh
import NIOCore
import NIOEmbedded
import Testing

/// The snapshot writer when the disk is slow or full: a flush at shutdown waits for a save in
/// progress and then writes what changed since, and a failing store is retried less and less
/// often instead of every second for ever.
@Suite struct SnapshotterDurabilityTests {
    /// A store whose saves complete when the test says (or fail at once, when `failing`).
    final class GatedStore: DurableStore, @unchecked Sendable {
        let loop: EmbeddedEventLoop
        var failing = false
        private(set) var saved: [ByteBuffer] = []
        private(set) var attempts = 0
        private var gates: [(EventLoopPromise<Void>, ByteBuffer)] = []

        init(loop: EmbeddedEventLoop) { self.loop = loop }

        func load(_ key: String) -> EventLoopFuture<ByteBuffer?> { loop.makeSucceededFuture(nil) }
        func remove(_ key: String) -> EventLoopFuture<Void> { loop.makeSucceededVoidFuture() }
        func save(_ key: String, _ value: ByteBuffer) -> EventLoopFuture<Void> {
            attempts += 1
            if failing { return loop.makeFailedFuture(HostError.storeFailure(key: key, reason: "No space left on device")) }
            let promise = loop.makePromise(of: Void.self)
            gates.append((promise, value))
            return promise.futureResult
        }

        /// Completes the oldest save in progress.
        func completeOne() {
            guard !gates.isEmpty else {
                Issue.record("no save is in progress")
                return
            }
            let (promise, value) = gates.removeFirst()
            saved.append(value)
            promise.succeed()
        }

        var inProgress: Int { gates.count }
    }

    static func service(_ name: String) -> KubernetesObject {
        .service(Service(metadata: ObjectMeta(name: name, namespace: "shop"), spec: Service.Spec(clusterIP: "10.96.0.9")))
    }

    @Test func aFlushDuringASaveWaitsForItAndWritesWhatChangedSince() throws {
        let loop = EmbeddedEventLoop()
        let table = ServiceTable(eventLoop: loop)
        let store = GatedStore(loop: loop)
        let snapshotter = ServiceTableSnapshotter(table: table, store: store, logger: Logger(label: "test"))
        snapshotter.start()
        table.apply(.upsert(Self.service("first")))
        loop.advanceTime(by: .seconds(1))
        #expect(store.inProgress == 1, "the periodic save is under way")
        table.apply(.upsert(Self.service("second")))
        // SIGTERM now: the agent stops following changes and flushes.
        snapshotter.stop()
        var flushed = false
        snapshotter.flush().whenComplete { _ in flushed = true }
        #expect(!flushed, "the flush waits for the save under way")
        store.completeOne()
        #expect(store.inProgress == 1, "then writes what changed during it")
        store.completeOne()
        #expect(flushed)
        let last = try ServiceTableSnapshot.decode(try #require(store.saved.last), key: "k")
        #expect(last.services.map(\.metadata.name) == ["first", "second"])
    }

    @Test func aFailingStoreIsRetriedWithBackoff() throws {
        let loop = EmbeddedEventLoop()
        let table = ServiceTable(eventLoop: loop)
        let store = GatedStore(loop: loop)
        store.failing = true
        let snapshotter = ServiceTableSnapshotter(table: table, store: store, logger: Logger(label: "test"))
        snapshotter.start()
        table.apply(.upsert(Self.service("first")))
        for _ in 0..<600 { loop.advanceTime(by: .milliseconds(100)) }
        // A minute of a full disk: 1 s, then 2, 4, 8, 16 and 32 s apart, not 60 tries.
        #expect(store.attempts <= 7, "\(store.attempts) attempts in a minute")
        #expect(store.attempts >= 5)
        // Once the disk has room again, the next try saves.
        store.failing = false
        for _ in 0..<700 { loop.advanceTime(by: .milliseconds(100)) }
        #expect(store.inProgress == 1)
        store.completeOne()
        #expect(store.saved.count == 1)
        snapshotter.stop()
    }
}
