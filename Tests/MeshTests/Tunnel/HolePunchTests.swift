@testable import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// Hole punching coordinated through the relays, and the NAT observation it relies on.
@Suite struct HolePunchTests {
    static let s = RelayTestBed.s
    static let cone = NATConfiguration(mapping: .endpointIndependent, filtering: .addressAndPortDependent)
    static let symmetric = NATConfiguration(mapping: .addressAndPortDependent, filtering: .addressAndPortDependent)

    func bed(_ a: NATConfiguration?, _ b: NATConfiguration?) throws -> RelayTestBed {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("a", a, nil), ("b", b, nil)]))
        try bed.startRelay("relay-1")
        try bed.startRelay("relay-2")
        try bed.startAgent("a")
        try bed.startAgent("b")
        bed.sim.run(until: 2 * Self.s)
        return bed
    }

    /// A PSK holder can send a node punch requests through the relays as fast as it likes; each
    /// one would open sockets and timers. A node answers at most `maximumAttemptsPerPeer` at once
    /// from one peer (and `maximumConcurrentAttempts` in all) and declines the rest.
    @Test func aFloodOfPunchRequestsFromOnePeerIsDeclinedPastTheCap() throws {
        let bed = try bed(Self.cone, Self.cone)
        let b = try #require(bed.punchers["b"])
        var random = try #require(bed.sim.host(named: "a")).random
        for _ in 0..<50 {
            let request = PunchSignal.request(
                token: .random(using: &random), mapping: .endpointIndependent,
                endpoint: NodeEndpoint(address: IPv4Address(203, 0, 113, 99), port: 20007))
            bed.client("a").sendSignal(to: "b", payload: request.encoded) { _ in }
        }
        bed.sim.run(until: bed.sim.now + Self.s)
        #expect(b.attemptsInProgress <= b.options.maximumAttemptsPerPeer, "\(b.attemptsInProgress) attempts in progress for one peer")
        #expect(b.declinedRequests >= 50 - b.options.maximumAttemptsPerPeer)
    }

    @Test func twoPortRestrictedConesPunchADirectConnectionThatCarriesBytes() throws {
        let bed = try bed(Self.cone, Self.cone)
        let natB = try #require(bed.sim.node(named: "nat-b")?.addresses.first)
        var remote: NodeEndpoint?
        let (result, _) = bed.roundTrip(
            {
                bed.punchers["a"]!.dialer.dial(node: "b").map { channel in
                    remote = NodeEndpoint(channel.remoteAddress)
                    return channel
                }
            }, payload: ByteBuffer(string: "direct at last"))
        #expect((try? result.get()) == ByteBuffer(string: "direct at last"))
        #expect(bed.accepted["b"] == [.holePunched])
        #expect(remote == NodeEndpoint(address: natB, port: 20007), "the connection goes to b's NAT, not through a relay")
        #expect(bed.relays["relay-1"]?.statistics.relayedBytes == 0)
        #expect(bed.relays["relay-1"]?.statistics.signalsPassed == 3, "request, answer, sync")
    }

    @Test func twoSymmetricNATsSkipPunchingAndSayWhy() throws {
        let bed = try bed(Self.symmetric, Self.symmetric)
        bed.sim.run(until: 15 * Self.s)
        let started = bed.sim.now
        var failure: Error?
        bed.punchers["a"]!.punch(to: "b").whenFailure { failure = $0 }
        _ = bed.sim.run(until: bed.sim.now + 30 * Self.s) { failure == nil }
        let error = try #require(failure as? HolePunchError)
        guard case .peerDeclined(let node, let reason) = error else {
            Issue.record("expected b to decline, got \(error)")
            return
        }
        #expect(node == "b")
        #expect(reason.contains("punching cannot work"))
        #expect(bed.sim.now - started < Self.s, "no SYN is wasted: the answer comes after one relayed round trip")
        #expect(bed.punchers["a"]?.lastFailure["b"] == error)
        let status = try #require(bed.punchers["a"]?.status.description)
        #expect(status.contains("relay 203.0.113.250:20008: reserved (observed at "), "\(status)")
        #expect(status.contains("NAT mapping endpoint-dependent"), "\(status)")
        // 10 ms each way on a's uplink; the relays sit on the internet itself.
        #expect(status.contains(", RTT 20 ms"), "\(status)")
        #expect(status.contains("no punched path to b: node \"b\" declined to punch: its NAT maps per destination"), "\(status)")
    }

    /// Both ends of a relayed connection try to upgrade on the same timer. Two punches dialling
    /// from the same ports into each other spoil each other; the node whose name sorts first
    /// keeps its punch, the other answers it and steps aside, and one connection results.
    @Test func twoNodesPunchingEachOtherAtOnceMakeOnePunch() throws {
        let bed = try bed(Self.cone, Self.cone)
        var fromA: Result<Channel, Error>?
        var fromB: Result<Channel, Error>?
        bed.punchers["a"]!.punch(to: "b").whenComplete { fromA = $0 }
        bed.punchers["b"]!.punch(to: "a").whenComplete { fromB = $0 }
        _ = bed.sim.run(until: bed.sim.now + 30 * Self.s) { fromA == nil || fromB == nil }
        let kept = try #require(try fromA?.get(), "a's punch goes through")
        // Not a failure the tunnel reports: the path race leaves a path that does not apply out.
        guard case .failure(let error) = fromB, error is PathNotApplicable,
            "\(error)" == "\(HolePunchError.yieldedToPeer(node: "a"))"
        else {
            Issue.record("b should step aside for a's punch, got \(String(describing: fromB))")
            return
        }
        #expect(bed.accepted["b"] == [.holePunched], "b took a's punched connection")
        #expect(bed.accepted["a"] == nil, "no second connection from b's own punch")
        #expect(bed.punchers["b"]?.lastFailure["a"] == nil, "stepping aside is not a failure to report")
        kept.close(promise: nil)
        bed.sim.run(until: bed.sim.now + Self.s)
    }

    /// The glare the name order cannot settle: b's request reached a first and a answers it,
    /// then a's own upgrade timer fires. A second punch between the same two ports would spoil
    /// the first (on a kernel the outcome became a race); a leaves the pair to the punch under way.
    @Test func aPunchAskedForWhileAnsweringThePeersOwnLeavesItToThatOne() throws {
        let bed = try bed(Self.cone, Self.cone)
        var fromB: Result<Channel, Error>?
        var fromA: Result<Channel, Error>?
        bed.punchers["b"]!.punch(to: "a").whenComplete { fromB = $0 }
        _ = bed.sim.run(until: bed.sim.now + 30 * Self.s) { bed.punchers["a"]!.attemptsInProgress == 0 }
        bed.punchers["a"]!.punch(to: "b").whenComplete { fromA = $0 }
        _ = bed.sim.run(until: bed.sim.now + 30 * Self.s) { fromA == nil || fromB == nil }
        let kept = try #require(try fromB?.get(), "b's punch goes through")
        guard case .failure(let error) = fromA, error is PathNotApplicable else {
            Issue.record("a should leave the pair to b's punch, got \(String(describing: fromA))")
            return
        }
        #expect("\(error)".contains("a punch with b is under way"), "\(error)")
        #expect(bed.accepted["a"] == [.holePunched], "a took b's punched connection")
        #expect(bed.accepted["b"] == nil, "no second connection from a's own punch")
        #expect(bed.punchers["a"]?.lastFailure["b"] == nil)
        kept.close(promise: nil)
        bed.sim.run(until: bed.sim.now + Self.s)
    }

    @Test func aSymmetricNATBehindAFullConeStillPunchesThroughTheCone() throws {
        let fullCone = NATConfiguration(mapping: .endpointIndependent, filtering: .endpointIndependent)
        let bed = try bed(Self.symmetric, fullCone)
        let (result, _) = bed.roundTrip({ bed.punchers["a"]!.dialer.dial(node: "b") }, payload: ByteBuffer(string: "through the cone"))
        #expect((try? result.get()) == ByteBuffer(string: "through the cone"))
    }

    @Test func aSymmetricNATAgainstAPortRestrictedConeFailsAfterItsAttemptsWithAReason() throws {
        let bed = try bed(Self.symmetric, Self.cone)
        var failure: Error?
        bed.punchers["a"]!.punch(to: "b").whenFailure { failure = $0 }
        _ = bed.sim.run(until: bed.sim.now + 60 * Self.s) { failure == nil }
        let error = try #require(failure as? HolePunchError)
        #expect(error == .noConnectionGotThrough(node: "b", attempts: 3, local: .endpointDependent, peer: .endpointIndependent))
        #expect("\(error)".contains("staying relayed"))
        // The relayed path still works for this pair.
        let (result, _) = bed.roundTrip({ bed.client("a").relayedDialer.dial(node: "b") }, payload: ByteBuffer(string: "relayed"))
        #expect((try? result.get()) == ByteBuffer(string: "relayed"))
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func punchingAndRelayingSurviveALossyHighLatencyEdgeLink(seed: UInt64) throws {
        // 75 ms each way on each NAT's uplink (300 ms RTT node to node) and 10% loss each way.
        let lossy = LinkProfile(latency: 75 * RelayTestBed.ms, jitter: 5 * RelayTestBed.ms, loss: 0.10)
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("a", Self.cone, nil), ("b", Self.cone, nil)], wan: lossy), seed: seed)
        try bed.startRelay("relay-1")
        try bed.startRelay("relay-2")
        try bed.startAgent("a")
        try bed.startAgent("b")
        bed.sim.run(until: 10 * Self.s)
        let payload = ByteBuffer(bytes: (0..<32 * 1024).map { UInt8(truncatingIfNeeded: $0) })
        let (relayed, _) = bed.roundTrip({ bed.client("a").relayedDialer.dial(node: "b") }, payload: payload, within: 120 * Self.s)
        #expect((try? relayed.get()) == payload)
        let (punched, _) = bed.roundTrip({ bed.punchers["a"]!.dialer.dial(node: "b") }, payload: payload, within: 120 * Self.s)
        #expect((try? punched.get()) == payload, "\(punched)")
    }

    @Test(arguments: [
        (NATConfiguration?.none, NATMappingBehavior.noNAT),
        (NATConfiguration(mapping: .endpointIndependent, filtering: .endpointIndependent), .endpointIndependent),
        (NATConfiguration(mapping: .addressDependent, filtering: .addressDependent), .endpointDependent),
        (NATConfiguration(mapping: .addressAndPortDependent, filtering: .addressAndPortDependent), .endpointDependent),
    ])
    func twoRelaysTellTheNATMapping(nat: NATConfiguration?, expected: NATMappingBehavior) throws {
        let bed = try bed(nat, Self.cone)
        let observation = try #require(bed.punchers["a"]?.natObservation)
        #expect(observation.mapping == expected, "\(observation)")
        #expect(observation.observers.count == 2)
    }

    @Test func withOneRelayTheMappingIsUnknownNotGuessed() throws {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("a", Self.cone, nil)]))
        try bed.startRelay("relay-1")
        try bed.startAgent("a")
        bed.sim.run(until: 2 * Self.s)
        #expect(bed.punchers["a"]?.natObservation.mapping == .unknown)
    }
}
