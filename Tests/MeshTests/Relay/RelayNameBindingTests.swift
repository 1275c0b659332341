@testable import Mesh
import NIOCore
import Testing

@testable import NetSim

/// Whose name a relay reservation carries: with the cluster's Node keys, only a node the cluster
/// lists, with the key its Node says (a wiped node's new key is admitted once published);
/// without them, first use binds; and one address holds at most its share of reservations.
@Suite struct RelayNameBindingTests {
    static let s = RelayTestBed.s

    final class ClusterKeys: PeerKeyDirectory, @unchecked Sendable {
        var keys: [String: [UInt8]] = [:]
        func publicKey(ofNode node: String) -> [UInt8]? { keys[node] }
    }

    static func keyPair(_ seed: UInt8, on bed: RelayTestBed) -> NoiseKeyPair {
        var random = bed.sim.host(named: "a")!.random
        for _ in 0..<Int(seed) { _ = random.next() }
        return NoiseKeyPair.generate(using: &random)
    }

    static func accepted(_ answer: RelayMessage?) -> Bool {
        if case .reservationAccepted = answer { return true }
        return false
    }

    @Test func withTheClustersKeysOnlyAListedNodeWithItsKeyIsAdmitted() throws {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("a", nil, nil)]))
        let cluster = ClusterKeys()
        let edge = Self.keyPair(1, on: bed), mallory = Self.keyPair(2, on: bed)
        cluster.keys["edge-1"] = edge.publicKey
        try bed.startRelay("relay-1", clusterKeys: cluster)
        bed.sim.run(until: Self.s)
        #expect(try bed.reserve(as: "mallory", key: mallory, from: "a") == .reservationRefused(.nodeUnknownToCluster(node: "mallory")))
        #expect(try bed.reserve(as: "edge-1", key: mallory, from: "a") == .reservationRefused(.nameBoundToAnotherKey(node: "edge-1")))
        #expect(Self.accepted(try bed.reserve(as: "edge-1", key: edge, from: "a")))
        #expect(bed.relays["relay-1"]?.reservedNodes == ["edge-1"])
    }

    @Test func aWipedNodeIsAdmittedWithTheNewKeyItsNodeNowCarries() throws {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("a", nil, nil)]))
        let cluster = ClusterKeys()
        let before = Self.keyPair(1, on: bed), after = Self.keyPair(3, on: bed)
        cluster.keys["edge-1"] = before.publicKey
        try bed.startRelay("relay-1", clusterKeys: cluster)
        bed.sim.run(until: Self.s)
        #expect(Self.accepted(try bed.reserve(as: "edge-1", key: before, from: "a")))
        // The node lost its state directory: a new key, published on its Node.
        cluster.keys["edge-1"] = after.publicKey
        #expect(Self.accepted(try bed.reserve(as: "edge-1", key: after, from: "a")))
        // The old key is no longer the node's.
        #expect(try bed.reserve(as: "edge-1", key: before, from: "a") == .reservationRefused(.nameBoundToAnotherKey(node: "edge-1")))
    }

    @Test func oneAddressHoldsAtMostItsShareOfReservations() throws {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("a", nil, nil), ("b", nil, nil)]))
        try bed.startRelay("relay-1") { $0.maxReservationsPerAddress = 3 }
        bed.sim.run(until: Self.s)
        var answers: [RelayMessage?] = []
        for index in 0..<5 { answers.append(try bed.reserve(as: "node-\(index)", key: Self.keyPair(UInt8(10 + index), on: bed), from: "a")) }
        #expect(answers.filter(Self.accepted).count == 3)
        #expect(answers.last == .reservationRefused(.addressReservationsFull(limit: 3)))
        // Another address is not held back by the first.
        #expect(Self.accepted(try bed.reserve(as: "node-b", key: Self.keyPair(20, on: bed), from: "b")))
    }
}
