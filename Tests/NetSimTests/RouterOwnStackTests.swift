import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// What a NAT router does with a TCP segment none of its mappings takes: with a WAN input filter
/// (as home routers have) it drops it; without one, its own stack answers with a reset.
@Suite("A NAT router's own stack")
struct RouterOwnStackTests {
    /// A connect from the internet to an unmapped port of the router's WAN address.
    private func connectToUnmappedPort(filtersInput: Bool) throws -> (outcome: Result<Channel, Error>?, after: UInt64) {
        let sim = try Simulator(
            seed: 1,
            topology: TopologySpec(
                networks: [
                    .init(name: "internet", subnet: IPv4Prefix("203.0.113.0/24")!),
                    .init(name: "lan", subnet: IPv4Prefix("192.168.1.0/24")!, router: "home"),
                ],
                routers: [
                    .init(
                        name: "home", upstream: "internet", address: IPv4Address(203, 0, 113, 10),
                        nat: NATConfiguration(filtersInput: filtersInput),
                        link: LinkSpec(both: LinkProfile(latency: 10 * Nanoseconds.millisecond)))
                ],
                nodes: [.init(name: "outside", network: "internet"), .init(name: "inside", network: "lan")]))
        let outside = sim.host(named: "outside")!
        var outcome: Result<Channel, Error>?
        var settled: UInt64 = 0
        outside.connectStream(
            StreamConnectOptions(remote: IPv4Address(203, 0, 113, 10).socketAddress(port: 4000), connectTimeout: .seconds(3))
        ) { _ in outside.eventLoop.makeSucceededVoidFuture() }
        .whenComplete {
            outcome = $0
            settled = sim.now
        }
        sim.run(until: 10 * Nanoseconds.second) { outcome == nil }
        return (outcome, settled)
    }

    @Test("without an input filter the router refuses at once, one round trip to it")
    func refusesWithoutInputFilter() throws {
        let (outcome, after) = try connectToUnmappedPort(filtersInput: false)
        guard case .failure(let error as HostError) = outcome, case .connectionRefused = error else {
            Issue.record("expected connection refused, got \(String(describing: outcome))")
            return
        }
        #expect(after == 20 * Nanoseconds.millisecond)
    }

    @Test("with the filter the segment vanishes and the connect times out")
    func silentWithInputFilter() throws {
        let (outcome, after) = try connectToUnmappedPort(filtersInput: true)
        guard case .failure(let error as HostError) = outcome, case .connectTimeout = error else {
            Issue.record("expected a connect timeout, got \(String(describing: outcome))")
            return
        }
        #expect(after == 3 * Nanoseconds.second)
    }
}
