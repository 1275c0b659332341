import Mesh
import NIOCore
import NetSim
import NetworkTopology

/// Hosts on the simulator: one LAN with a millisecond of latency each way and no loss, so the
/// conformance suite sees the same guarantees a real loopback gives. `wait` runs the event
/// queue in virtual time; a test of "10 seconds" costs milliseconds.
final class SimulatedTestBed: HostTestBed {
    let name = "simulated"
    private var simulator: Simulator?

    func makeHosts(_ count: Int) throws -> [any Host] {
        let link = LinkSpec(both: LinkProfile(latency: Nanoseconds.millisecond / 2))
        let simulator = try Simulator(
            seed: 1,
            topology: TopologySpec(
                networks: [.init(name: "lan", subnet: IPv4Prefix("10.1.0.0/16")!)],
                nodes: (0..<count).map { .init(name: "host-\($0)", network: "lan", link: link) }))
        self.simulator = simulator
        return simulator.hosts
    }

    func address(of host: any Host) -> IPv4Address {
        (host as! SimHost).address
    }

    func wait<T: Sendable>(for future: EventLoopFuture<T>, timeout: TimeAmount) throws -> T {
        guard let simulator else { preconditionFailure("makeHosts first") }
        var outcome: Result<T, Error>?
        future.whenComplete { outcome = $0 }
        simulator.run(until: simulator.now + UInt64(timeout.nanoseconds)) { outcome == nil }
        guard let outcome else { throw TestBedTimeout(bed: name, timeout: timeout) }
        return try outcome.get()
    }

    func shutdown() throws {
        // Let closes and their last packets play out; nothing outlives the simulator.
        simulator?.run(for: Nanoseconds.second)
        simulator = nil
    }
}
