import Logging
import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// Counts the saves that reach a store, passing everything through.
final class CountingStore: DurableStore, @unchecked Sendable {
    let inner: DurableStore
    private(set) var saves: [(key: String, value: ByteBuffer)] = []

    init(_ inner: DurableStore) { self.inner = inner }

    func load(_ key: String) -> EventLoopFuture<ByteBuffer?> { inner.load(key) }
    func save(_ key: String, _ value: ByteBuffer) -> EventLoopFuture<Void> {
        saves.append((key, value))
        return inner.save(key, value)
    }
    func remove(_ key: String) -> EventLoopFuture<Void> { inner.remove(key) }
}

/// The offline snapshot on a simulated node: coalesced saves, a crash and boot, a restore that
/// answers like the table it was taken from, and a corrupt snapshot that is only reported.
@Suite struct DiscoverySnapshotTests {
    static let second = Nanoseconds.second
    static let web = ObjectKey(namespace: "shop", name: "web")

    static func simulator() throws -> Simulator {
        try Simulator(
            seed: 7,
            topology: TopologySpec(
                networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/24")!)],
                nodes: [.init(name: "edge", network: "lan")]))
    }

    static func service(_ name: String, clusterIP: String) -> KubernetesObject {
        .service(Service(
            metadata: ObjectMeta(name: name, namespace: "shop"),
            spec: Service.Spec(clusterIP: clusterIP, ports: [ServicePort(name: "http", port: 80)])))
    }

    static func slice(ready: [String]) -> KubernetesObject {
        .endpointSlice(EndpointSlice(
            metadata: ObjectMeta(name: "web-1", namespace: "shop", labels: [EndpointSlice.serviceNameLabel: "web"]),
            addressType: .ipv4, endpoints: ready.map { EndpointSlice.Endpoint(addresses: [$0], nodeName: "edge") },
            ports: [EndpointSlice.Port(name: "http", port: 8080)]))
    }

    static let rule = KubernetesObject.destinationRule(DestinationRule(
        metadata: ObjectMeta(name: "web", namespace: "shop"),
        spec: DestinationRule.Spec(host: "web.shop.svc.cluster.local", trafficPolicy: .init(loadBalancer: .simple(.random)))))

    /// Runs `restore` on a fresh table and returns the table and what restore reported.
    static func restoredTable(on host: SimHost, sim: Simulator) throws -> (ServiceTable, ServiceTableRestoreOutcome) {
        let table = ServiceTable(eventLoop: host.eventLoop)
        var outcome: ServiceTableRestoreOutcome?
        table.restore(from: host.store).assumeIsolated().whenSuccess { outcome = $0 }
        sim.run(until: sim.now + second) { outcome == nil }
        return (table, try #require(outcome))
    }

    @Test func savesAreCoalescedAndARestartedNodeServesTheSnapshot() throws {
        let sim = try Self.simulator()
        let host = try #require(sim.host(named: "edge"))
        let store = CountingStore(host.store)
        let table = ServiceTable(eventLoop: host.eventLoop)
        let snapshotter = ServiceTableSnapshotter(table: table, store: store, logger: host.logger)
        snapshotter.start()

        // A burst inside one interval: 40 changes, one save, after the interval.
        table.apply(.upsert(Self.service("web", clusterIP: "10.96.0.20")))
        for i in 1...39 {
            table.apply(.upsert(Self.slice(ready: (1...i).map { "10.244.0.\($0)" })))
            sim.run(until: UInt64(i) * 20 * Nanoseconds.millisecond)
        }
        #expect(store.saves.isEmpty)
        sim.run(until: 3 * Self.second)
        #expect(store.saves.count == 1)
        #expect(store.saves.first?.key == ServiceTable.snapshotKey)
        let saved = try ServiceTableSnapshot.decode(try #require(store.saves.last?.value), key: "saved")
        #expect(saved == table.snapshot())

        // Steady changes every 100 ms for 3 s: at most one save per second, the last state saved.
        for i in 0..<30 {
            table.apply(.upsert(Self.service("steady", clusterIP: "10.96.1.\(i)")))
            sim.run(until: sim.now + 100 * Nanoseconds.millisecond)
        }
        table.apply(.upsert(Self.rule))
        sim.run(until: sim.now + 3 * Self.second)
        let steadySaves = store.saves.count - 1
        #expect(steadySaves >= 3 && steadySaves <= 4, "\(steadySaves) saves")
        let last = try ServiceTableSnapshot.decode(try #require(store.saves.last?.value), key: "saved")
        #expect(last == table.snapshot())

        // What the table answered before the crash.
        let service = table.service(Self.web)
        let byIP = table.service(clusterIP: "10.96.0.20")
        let endpoints = table.endpoints(of: Self.web)
        let rule = table.destinationRule(forService: Self.web)
        #expect(endpoints.count == 39)
        #expect(rule != nil)

        // The node crashes with the snapshot saved and no save pending. (A crash with a timer
        // pending trips NIO's leaked-promise check: NetSim drops the task's promise unfulfilled.)
        try sim.crash("edge")
        sim.run(until: sim.now + 5 * Self.second)
        try sim.boot("edge")

        let (restored, outcome) = try Self.restoredTable(on: host, sim: sim)
        #expect(outcome == .restored(objectCount: 4, savedRevision: last.revision))
        #expect(restored.service(Self.web) == service)
        #expect(restored.service(clusterIP: "10.96.0.20") == byIP)
        #expect(restored.endpoints(of: Self.web) == endpoints)
        #expect(restored.destinationRule(forService: Self.web) == rule)
        #expect(restored.service(ObjectKey(namespace: "shop", name: "steady"))?.spec.clusterIP == "10.96.1.29")
    }

    @Test func aCorruptSnapshotIsReportedAndIgnored() throws {
        let sim = try Self.simulator()
        let host = try #require(sim.host(named: "edge"))

        let (empty, absent) = try Self.restoredTable(on: host, sim: sim)
        #expect(absent == .absent)
        #expect(empty.revision == 0)

        var good: ByteBuffer?
        var bytes = ByteBuffer()
        for text in ["{\"formatVersion\":1,\"services\":[{\"metadata\":", "\u{0}\u{1}garbage", "{\"formatVersion\":2}"] {
            bytes = ByteBuffer(string: text)
            host.store.save(ServiceTable.snapshotKey, bytes).assumeIsolated().whenSuccess { good = bytes }
            sim.run(until: sim.now + Self.second)
            #expect(good == bytes)
            let (table, outcome) = try Self.restoredTable(on: host, sim: sim)
            guard case .ignored(let error) = outcome else {
                Issue.record("restored from \(text): \(outcome)")
                continue
            }
            #expect(error.description.contains("service-table-snapshot"))
            #expect(error.description.contains("ignored"))
            #expect(table.revision == 0)
            #expect(table.services.isEmpty)
        }
    }
}
