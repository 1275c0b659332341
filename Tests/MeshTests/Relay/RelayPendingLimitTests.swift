@testable import Mesh
import NIOCore
import Testing

@testable import NetSim

/// A relay is on the internet: anyone may open connections to it. Before a connection proves
/// itself (a control session authenticated, or a data connection's live token) it counts
/// against a per-address and a total limit, so slow-loris clients cannot hold its descriptors.
@Suite struct RelayPendingLimitTests {
    static let s = RelayTestBed.s

    @Test func silentConnectionsFromOneAddressAreCappedAndOthersStillReserve() throws {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("mallory", nil, nil), ("a", nil, nil)]))
        try bed.startRelay("relay-1") { $0.maxPendingConnectionsPerAddress = 8 }
        bed.sim.run(until: Self.s)
        let host = try #require(bed.sim.host(named: "mallory"))
        var opened = 0
        for _ in 0..<40 {
            host.connectStream(StreamConnectOptions(remote: bed.relayAddresses[0])) { _ in host.eventLoop.makeSucceededVoidFuture() }
                .whenSuccess { _ in opened += 1 }
        }
        bed.sim.run(until: bed.sim.now + Self.s)
        let relay = try #require(bed.relays["relay-1"])
        #expect(opened == 40, "the kernel accepts them all")
        #expect(relay.pendingConnections == 8)
        #expect(relay.statistics.refusedPendingConnections == 32)
        // A node from another address is not held back.
        try bed.startAgent("a")
        bed.sim.run(until: bed.sim.now + 5 * Self.s)
        #expect(relay.reservedNodes == ["a"])
        // The silent ones go at the handshake timeout, and their slots with them.
        bed.sim.run(until: bed.sim.now + 15 * Self.s)
        #expect(relay.pendingConnections == 0)
    }
}
