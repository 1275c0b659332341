import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// A manifest directory is edited by hand and by tools that write files in place: a file that
/// does not parse (a typo, a half-written file) must never take its services away, before or
/// after a restart. Only a file that parses, or a file that is removed, changes the table.
@Suite struct ManifestChangeTests {
    static let s = Nanoseconds.second

    static func service(_ name: String, ip: String) -> String {
        "apiVersion: v1\nkind: Service\nmetadata: {name: \(name), namespace: default}\nspec: {clusterIP: \(ip), ports: [{port: 80}]}\n"
    }

    static let good = ["web.yaml": service("web", ip: "10.96.0.10"), "db.yaml": service("db", ip: "10.96.0.11")]
    static let db = ObjectKey(namespace: "default", name: "db")
    static let web = ObjectKey(namespace: "default", name: "web")

    static func node() throws -> (Simulator, SimHost) {
        let sim = try Simulator(
            seed: 1, topology: TopologySpec(networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/24")!)],
                                            nodes: [.init(name: "edge-1", network: "lan")]))
        return (sim, sim.host(named: "edge-1")!)
    }

    static func startAgent(on host: SimHost, sim: Simulator) throws -> EdgeAgent {
        let agent = try EdgeAgent(host: host, configuration: .init(nodeName: "edge-1", listenAddress: host.address, dnsPort: 5353))
        _ = agent.start()
        sim.run(for: Self.s)
        return agent
    }

    /// Stops the agent and lets its timers run out, so no promise is left when the simulation goes.
    static func stop(_ agent: EdgeAgent, sim: Simulator) {
        var stopped = false
        agent.stop().whenComplete { _ in stopped = true }
        sim.run(until: sim.now + 10 * Self.s) { !stopped }
        sim.run(for: 120 * Self.s)
    }

    @Test func aFileThatStopsParsingKeepsItsServicesUntilItParsesOrGoes() throws {
        let (sim, host) = try Self.node()
        let agent = try Self.startAgent(on: host, sim: sim)
        #expect(agent.applyManifests(Self.good).isEmpty)
        #expect(agent.table.service(Self.db) != nil)

        var files = Self.good
        files["db.yaml"] = "apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: default"  // half written
        let problems = agent.applyManifests(files)
        #expect(agent.table.service(Self.db)?.spec.clusterIP == "10.96.0.11", "db must survive its file's typo")
        #expect(agent.table.service(Self.web) != nil)
        #expect(problems.map(\.file) == ["db.yaml"])
        #expect(problems.first?.problem.reason.contains("keeping the 1 object of its last good version") == true, "\(problems)")

        // A document whose fields are wrong keeps that object's last good version too.
        files["db.yaml"] = "apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: default}\nspec: {clusterIP: 10.96.0.11, ports: [{port: eighty}]}\n"
        _ = agent.applyManifests(files)
        #expect(agent.table.service(Self.db)?.spec.clusterIP == "10.96.0.11")

        // Fixed, the file's new content counts; removed, its objects go.
        files["db.yaml"] = Self.service("db", ip: "10.96.0.12")
        #expect(agent.applyManifests(files).isEmpty)
        #expect(agent.table.service(Self.db)?.spec.clusterIP == "10.96.0.12")
        files["db.yaml"] = nil
        _ = agent.applyManifests(files)
        #expect(agent.table.service(Self.db) == nil)
        Self.stop(agent, sim: sim)
    }

    @Test func afterARestartABrokenFileDoesNotEraseWhatTheSnapshotHeld() throws {
        let (sim, host) = try Self.node()
        let first = try Self.startAgent(on: host, sim: sim)
        _ = first.applyManifests(Self.good)
        Self.stop(first, sim: sim)

        let second = try Self.startAgent(on: host, sim: sim)
        #expect(second.table.service(Self.db) != nil, "restored from the snapshot")
        var files = Self.good
        files["db.yaml"] = "kind: Service\nmetadata: {name: db"
        _ = second.applyManifests(files)
        #expect(second.table.service(Self.db) != nil, "nothing is known of what db.yaml declares, so nothing is removed")
        #expect(second.table.service(Self.web) != nil)
        // Once every file parses, the directory is the truth again.
        files["db.yaml"] = nil
        _ = second.applyManifests(files)
        #expect(second.table.service(Self.db) == nil)
        Self.stop(second, sim: sim)
    }
}
