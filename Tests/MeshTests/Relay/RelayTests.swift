@testable import Mesh
import NIOCore
import NetworkTopology
import Testing
@testable import Scenario

@testable import NetSim

/// The relay role seen from agents: reservations, circuits, limits, fail-over, authentication.
@Suite struct RelayTests {
    static let s = RelayTestBed.s
    static let ms = RelayTestBed.ms
    static let symmetric = NATConfiguration(mapping: .addressAndPortDependent, filtering: .addressAndPortDependent)

    /// Two agents behind symmetric NATs (no punching possible) and two relays.
    func bed(agents: [String] = ["a", "b"], relays: [String] = ["relay-1", "relay-2"]) throws -> RelayTestBed {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: agents.map { ($0, Self.symmetric, nil) }))
        for relay in relays { try bed.startRelay(relay) }
        for agent in agents { try bed.startAgent(agent) }
        bed.sim.run(until: 2 * Self.s)
        return bed
    }

    @Test func agentsHoldAReservationOnEveryRelayAndLearnTheirPublicEndpoint() throws {
        let bed = try bed()
        let natA = try #require(bed.sim.node(named: "nat-a")?.addresses.first)
        #expect(bed.relays["relay-1"]?.reservedNodes == ["a", "b"])
        #expect(bed.relays["relay-2"]?.reservedNodes == ["a", "b"])
        let observations = bed.client("a").observations
        #expect(observations.count == 2)
        #expect(observations.allSatisfy { $0.observed.address == natA }, "each relay sees a's NAT, not its private address")
        // A symmetric NAT gives each relay its own port: the mapping depends on the destination.
        #expect(bed.punchers["a"]?.natObservation.mapping == .endpointDependent)
    }

    @Test func aRelayedCircuitCarriesBytesUnchangedAndNeverParsesThem() throws {
        let bed = try bed()
        // Bytes that look like the relay's own protocol: a control magic, a data magic, a frame header.
        var payload = ByteBuffer(bytes: Array("EMRC".utf8) + Array("EMRD".utf8) + [0xFF, 0xFF, 0x00, 0x01])
        // Four times the write buffer's high-water mark, so the splice must pause and resume reading.
        payload.writeBytes((0..<256 * 1024).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let (result, _) = bed.roundTrip({ bed.client("a").relayedDialer.dial(node: "b") }, payload: payload)
        let echoed = try result.get()
        #expect(echoed == payload)
        #expect(bed.accepted["b"] == [.relayed])
        let relay = try #require(bed.relays["relay-1"])
        #expect(relay.statistics.circuitsOpened == 1)
        #expect(relay.statistics.relayedBytes == 2 * payload.readableBytes, "every byte each way, nothing added or dropped")
        #expect(bed.relays["relay-2"]?.statistics.circuitsOpened == 0, "the first relay in order carries it")
    }

    @Test func aCircuitToANodeWithoutReservationSaysSo() throws {
        let bed = try bed()
        let (result, _) = bed.roundTrip({ bed.client("a").relayedDialer.dial(node: "ghost") }, payload: ByteBuffer(string: "x"))
        guard case .failure(let error) = result else {
            Issue.record("a circuit to an unknown node succeeded")
            return
        }
        let text = "\(error)"
        #expect(text.contains("no relay reached node \"ghost\""))
        #expect(text.contains("has no reservation on this relay"), "\(text)")
        #expect(error as? RelayError == .noRelayReachedNode(node: "ghost", reasons: [
            "\(RelayError.refused(relay: "203.0.113.250:20008", .noReservation(node: "ghost")))",
            "\(RelayError.refused(relay: "203.0.113.251:20008", .noReservation(node: "ghost")))",
        ]))
    }

    @Test func theCircuitLimitPerNodeIsEnforcedAndNamed() throws {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("a", Self.symmetric, nil), ("b", Self.symmetric, nil)]))
        try bed.startRelay("relay-1") { $0.maxCircuitsPerNode = 2 }
        try bed.startAgent("a")
        try bed.startAgent("b")
        bed.sim.run(until: 2 * Self.s)
        var outcomes: [Result<Channel, Error>] = []
        for _ in 0..<3 {
            bed.client("a").openCircuit(to: "b").whenComplete { outcomes.append($0) }
            _ = bed.sim.run(until: bed.sim.now + 5 * Self.s) { outcomes.count < 3 }
        }
        #expect(outcomes.filter { (try? $0.get()) != nil }.count == 2)
        guard case .failure(let error) = outcomes.last else {
            Issue.record("the third circuit was not refused")
            return
        }
        #expect("\(error)".contains("already has 2 relayed circuits open on this relay (its limit)"), "\(error)")
        #expect(bed.relays["relay-1"]?.statistics.activeCircuits == 2)
    }

    @Test func aFullRelayRefusesNewNodesAndAnOverloadedOneNewCircuitsInWordsThatSayWhatToDo() throws {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: ["a", "b", "c"].map { ($0, Self.symmetric, nil) }))
        try bed.startRelay("relay-1") {
            $0.maxReservations = 2
            $0.maxCircuits = 1
        }
        for agent in ["a", "b", "c"] {
            try bed.startAgent(agent)
            bed.sim.run(for: Self.s)
        }
        #expect(bed.relays["relay-1"]?.reservedNodes == ["a", "b"])
        guard case .backingOff(let error) = bed.client("c").relayStates.first?.state else {
            Issue.record("c was not refused: \(bed.client("c").relayStates)")
            return
        }
        #expect(error.contains("holds its maximum of 2 node reservations: add a relay or raise its --max-reservations"), "\(error)")

        var first: Channel?
        bed.client("a").openCircuit(to: "b").whenSuccess { first = $0 }
        _ = bed.sim.run(until: bed.sim.now + 5 * Self.s) { first == nil }
        #expect(first != nil)
        let (second, _) = bed.roundTrip({ bed.client("b").openCircuit(to: "a") }, payload: ByteBuffer(string: "x"))
        guard case .failure(let refusal) = second else {
            Issue.record("a second circuit got through an overloaded relay")
            return
        }
        #expect("\(refusal)".contains("carries its maximum of 1 circuits: add a relay or raise its --max-circuits"), "\(refusal)")
        // Closing the first circuit frees the slot.
        first?.close(promise: nil)
        bed.sim.run(for: Self.s)
        let (third, _) = bed.roundTrip({ bed.client("b").openCircuit(to: "a") }, payload: ByteBuffer(string: "freed"))
        #expect((try? third.get()) == ByteBuffer(string: "freed"))
    }

    @Test func keepalivesHoldANATMappingThatWouldOtherwiseExpire() throws {
        // A NAT that forgets idle TCP mappings after 30 s: the 10 s keepalives keep the same one.
        var nat = Self.symmetric
        nat.tcpEstablishedTimeout = 30 * Self.s
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("a", nat, nil), ("b", Self.symmetric, nil)]))
        try bed.startRelay("relay-1")
        try bed.startAgent("a")
        try bed.startAgent("b")
        bed.sim.run(until: 2 * Self.s)
        let before = bed.client("a").observations
        bed.sim.run(for: 300 * Self.s)
        #expect(bed.client("a").observations.map(\.observed) == before.map(\.observed), "never reconnected: the mapping lived on")
        let (result, _) = bed.roundTrip({ bed.client("b").relayedDialer.dial(node: "a") }, payload: ByteBuffer(string: "5 min later"))
        #expect((try? result.get()) == ByteBuffer(string: "5 min later"))
    }

    @Test func theSameSeedGivesTheSameRunToTheLastPacket() throws {
        func digest() throws -> String {
            let bed = try bed()
            _ = bed.roundTrip({ bed.client("a").relayedDialer.dial(node: "b") }, payload: ByteBuffer(string: "determinism"))
            _ = bed.roundTrip({ bed.punchers["a"]!.punch(to: "b") }, payload: ByteBuffer(string: "determinism"))
            bed.sim.run(for: 30 * Self.s)
            return bed.sim.trace.digest
        }
        #expect(try digest() == digest())
    }

    /// Anyone on the internet can connect to a relay, and to an agent's punch port: a
    /// connection that stops before its first bytes are complete is closed after the handshake
    /// timeout instead of holding a descriptor for ever.
    @Test(arguments: [0, 2])
    func aConnectionThatNeverCompletesItsPreambleIsClosed(sending count: Int) throws {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("a", nil, nil), ("b", nil, nil)]))
        try bed.startRelay("relay-1")
        try bed.startAgent("b")
        bed.sim.run(until: 2 * Self.s)
        let host = try #require(bed.sim.host(named: "a"))
        let punchPort = bed.client("b").configuration.localPort
        let targets = [bed.relayAddresses[0], bed.sim.host(named: "b")!.address.socketAddress(port: punchPort)]
        for target in targets {
            let recorder = StreamRecorder()
            var connected: Channel?
            host.connectStream(StreamConnectOptions(remote: target)) { $0.pipeline.addHandler(recorder) }
                .whenSuccess { connected = $0 }
            bed.sim.run(until: bed.sim.now + Self.s) { connected == nil }
            let channel = try #require(connected, "\(target) accepts the connection")
            channel.writeAndFlush(ByteBuffer(bytes: Array("EMRC".utf8.prefix(count))), promise: nil)
            bed.sim.run(until: bed.sim.now + 60 * Self.s) { !recorder.closed }
            #expect(recorder.closed, "\(target) closes a connection that never finished its preamble")
        }
    }

    /// A node has one key, so one key holds one node name: a PSK holder cannot take the
    /// relay's reservations (or other nodes' names) with one key under many names.
    @Test func oneKeyReservesOneNodeName() throws {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("a", nil, nil)]))
        try bed.startRelay("relay-1")
        bed.sim.run(until: Self.s)
        var random = try #require(bed.sim.host(named: "a")).random
        let key = NoiseKeyPair.generate(using: &random)
        var answers: [String: RelayMessage] = [:]
        for name in ["mallory", "edge-1", "edge-2", "edge-3"] { answers[name] = try bed.reserve(as: name, key: key, from: "a") }
        #expect(answers.filter { if case .reservationAccepted = $0.value { true } else { false } }.keys.sorted() == ["mallory"])
        #expect(answers["edge-1"] == .reservationRefused(.keyBoundToAnotherNode(node: "mallory")))
        #expect(bed.relays["relay-1"]?.reservedNodes == ["mallory"])
    }

    @Test func aWrongPSKGetsNoAnswerAtAll() throws {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("a", nil, nil)]))
        try bed.startRelay("relay-1")
        bed.sim.run(until: Self.s)
        // A raw connection that speaks the relay's protocol with a wrong key: count what comes back.
        let host = try #require(bed.sim.host(named: "a"))
        var random = host.random
        let session = try RelayControlSession(
            role: .initiator, staticKey: .generate(using: &random), presharedKey: [UInt8](repeating: 1, count: 32),
            localName: "a", random: host.random, handshakeTimeout: .seconds(60),
            callbacks: .init(authenticated: { _, _, _ in }, received: { _, _ in }, closed: { _, _ in }))
        let sniffer = RawBytesTap()
        var connected: Channel?
        host.connectStream(StreamConnectOptions(remote: bed.relayAddresses[0])) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(sniffer)
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RelayFrameDecoder()))
                try channel.pipeline.syncOperations.addHandler(session)
            }
        }.whenSuccess { connected = $0 }
        bed.sim.run(for: 30 * Self.s)
        #expect(connected != nil, "the TCP connection itself is accepted")
        #expect(sniffer.byteCount == 0, "not one byte answers a wrong PSK")
        #expect(bed.relays["relay-1"]?.reservedNodes == [])
        #expect(bed.relays["relay-1"]?.statistics.silencedConnections == 1)
    }

    @Test func anAgentWithTheWrongPSKNeverGetsAReservation() throws {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("a", Self.symmetric, nil)]))
        try bed.startRelay("relay-1")
        try bed.startAgent("a", psk: [UInt8](repeating: 1, count: 32))
        bed.sim.run(until: 60 * Self.s)
        #expect(bed.relays["relay-1"]?.reservedNodes == [])
        guard case .backingOff(let error) = bed.client("a").relayStates.first?.state else {
            Issue.record("expected the agent to be backing off, got \(bed.client("a").relayStates)")
            return
        }
        #expect(error.contains("handshake failed"), "\(error)")
    }

    @Test func aNodeCannotTakeTheNameOfAnotherWhileItsKeyIsBound() throws {
        let bed = try bed(agents: ["a", "b"], relays: ["relay-1"])
        // An impostor on b's network knows the PSK and claims to be "a" with a key of its own.
        let host = try #require(bed.sim.host(named: "b"))
        var random = host.random
        var heard: [RelayMessage] = []
        let session = try RelayControlSession(
            role: .initiator, staticKey: .generate(using: &random), presharedKey: RelayTestBed.psk, localName: "a",
            random: host.random, handshakeTimeout: .seconds(60),
            callbacks: .init(authenticated: { _, _, _ in }, received: { heard.append($1) }, closed: { _, _ in }))
        host.connectStream(StreamConnectOptions(remote: bed.relayAddresses[0])) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RelayFrameDecoder()))
                try channel.pipeline.syncOperations.addHandler(session)
            }
        }.whenFailure { Issue.record("connect failed: \($0)") }
        bed.sim.run(for: 5 * Self.s)
        #expect(heard == [.reservationRefused(.nameBoundToAnotherKey(node: "a"))])
        #expect("\(RelayRefusal.nameBoundToAnotherKey(node: "a"))".contains("two agents claim one node name"))
        #expect(bed.relays["relay-1"]?.reservedNodes == ["a", "b"])
        // The real a keeps its reservation and its circuits.
        let (result, _) = bed.roundTrip({ bed.client("b").relayedDialer.dial(node: "a") }, payload: ByteBuffer(string: "still a"))
        #expect((try? result.get()) == ByteBuffer(string: "still a"))
    }

    @Test func aKeyBoundInAdvanceKeepsEveryOtherKeyOutOfThatName() throws {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("a", Self.symmetric, nil)]))
        // The cluster says node "a" holds this key; the agent on a comes with another one.
        try bed.startRelay("relay-1") { $0.boundKeys = ["a": [UInt8](repeating: 0x11, count: 32)] }
        try bed.startAgent("a")
        bed.sim.run(until: 5 * Self.s)
        #expect(bed.relays["relay-1"]?.reservedNodes == [])
        guard case .backingOff(let error) = bed.client("a").relayStates.first?.state else {
            Issue.record("a was not refused: \(bed.client("a").relayStates)")
            return
        }
        #expect(error.contains("another key holds node \"a\""), "\(error)")
    }

    @Test func whenARelayCrashesCircuitsGoThroughTheNextAndItIsRejoinedAfterItsReboot() throws {
        let bed = try bed()
        try bed.sim.crash("relay-1")
        // Keepalives find the dead relay; new circuits use relay-2 meanwhile.
        bed.sim.run(for: 40 * Self.s)
        #expect(bed.client("a").relayStates.map(\.state.isReserved) == [false, true])
        let (result, _) = bed.roundTrip({ bed.client("a").relayedDialer.dial(node: "b") }, payload: ByteBuffer(string: "via relay-2"))
        #expect((try? result.get()) == ByteBuffer(string: "via relay-2"))
        #expect(bed.relays["relay-2"]?.statistics.circuitsOpened == 1)
        try bed.sim.boot("relay-1")
        bed.sim.run(for: 60 * Self.s)
        #expect(bed.client("a").relayStates.map(\.state.isReserved) == [true, true], "backoff is capped: the agent comes back")
        #expect(bed.relays["relay-1"]?.reservedNodes == ["a", "b"])
    }

    /// Found by a chaos sweep (quickstart, seed 1 with --chaos medium): a link given up for a
    /// silent relay was closed with a FIN, which could not get through and was retransmitted
    /// for minutes, holding the relay link's fixed local port; every reconnect failed with
    /// "address in use" until long after the path was back.
    @Test func aRelayLinkGivenUpForSilenceFreesItsPortAndReservesAgainSoonAfterThePathIsBack() throws {
        let bed = try bed(agents: ["a", "b"], relays: ["relay-1"])
        let cut = try bed.sim.partition(["a"], from: ["relay-1"])
        // Keepalives give the relay up within 25 + 10 s; the close cannot reach it.
        bed.sim.run(for: 60 * Self.s)
        #expect(bed.client("a").relayStates.first?.state.isReserved == false)
        bed.sim.heal(partition: cut)
        bed.sim.run(for: 20 * Self.s)
        #expect(bed.client("a").relayStates.first?.state.isReserved == true, "\(bed.client("a").relayStates)")
    }

    @Test func aNATRebootLosesTheMappingAndTheAgentReservesAgain() throws {
        let bed = try bed(agents: ["a", "b"], relays: ["relay-1"])
        try bed.sim.rebootNAT("nat-a")
        // The old connection is dead behind the NAT; keepalives notice within 25 + 10 s and the
        // agent reconnects from the same local port at once: the dead connection is reset, not
        // left closing (its FIN would be retransmitted for minutes and hold the port).
        bed.sim.run(for: 40 * Self.s)
        #expect(bed.client("a").relayStates.first?.state.isReserved == true)
        let (result, _) = bed.roundTrip({ bed.client("b").relayedDialer.dial(node: "a") }, payload: ByteBuffer(string: "after reboot"))
        #expect((try? result.get()) == ByteBuffer(string: "after reboot"))
    }
}

extension RelayLinkState {
    var isReserved: Bool {
        if case .reserved = self { return true }
        return false
    }
}

/// Sees every byte that arrives, before any decoding.
final class RawBytesTap: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private(set) var byteCount = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        byteCount += unwrapInboundIn(data).readableBytes
        context.fireChannelRead(data)
    }
}
