import NIOCore

extension ServiceTable {
    /// The durable-store key of the offline snapshot.
    public static let snapshotKey = "service-table-snapshot"

    /// The table's content as a snapshot. Secrets are left out unless `includingSecrets`, and
    /// then only those a Gateway names as its `credentialName` (in the Gateway's namespace):
    /// the snapshot lies on the node's disk.
    public func snapshot(includingSecrets: Bool = false) -> ServiceTableSnapshot {
        ServiceTableSnapshot(of: self, includingSecrets: includingSecrets)
    }

    /// Loads the offline snapshot from `store` into the table, so an agent restarted while the
    /// API server is unreachable serves what it knew. Call it at start, before live data
    /// arrives: it replaces every kind wholesale. A snapshot that cannot be used is reported
    /// in the outcome and changes nothing; the future never fails.
    public func restore(from store: DurableStore, key: String = ServiceTable.snapshotKey)
        -> EventLoopFuture<ServiceTableRestoreOutcome>
    {
        eventLoop.preconditionInEventLoop()
        let promise = eventLoop.makePromise(of: ServiceTableRestoreOutcome.self)
        store.load(key).hop(to: eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .failure(let error):
                promise.succeed(.ignored(.unreadable(key: key, reason: String(describing: error))))
            case .success(nil):
                promise.succeed(.absent)
            case .success(let bytes?):
                do throws(ServiceTableSnapshotError) {
                    let snapshot = try ServiceTableSnapshot.decode(bytes, key: key)
                    for change in snapshot.changes { self.apply(change) }
                    promise.succeed(.restored(objectCount: snapshot.objectCount, savedRevision: snapshot.revision))
                } catch {
                    promise.succeed(.ignored(error))
                }
            }
        }
        return promise.futureResult
    }
}
