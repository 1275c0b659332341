import Mesh
@testable import NetSim
import NetworkTopology
import Testing

// Addresses from the documentation ranges: one NAT, two inside hosts, public servers.
private let wanAddress = IPv4Address(203, 0, 113, 1)
private let alice = Endpoint(IPv4Address(192, 168, 1, 10), 40000)
private let bob = Endpoint(IPv4Address(192, 168, 1, 11), 50000)
private let server = Endpoint(IPv4Address(198, 51, 100, 7), 3478)
private let serverOtherPort = Endpoint(server.address, 3479)
private let otherServer = Endpoint(IPv4Address(198, 51, 100, 8), 3478)
private let second = Nanoseconds.second

private func makeNAT(_ configuration: NATConfiguration = NATConfiguration(), seed: UInt64 = 1) -> NATTable {
    NATTable(configuration: configuration, externalAddress: wanAddress, random: SimRandom(seed: seed, label: "nat"))
}

extension NATTable {
    fileprivate func send(
        _ transport: TransportProtocol = .udp, from source: Endpoint, to destination: Endpoint,
        flags: TCPFlags? = nil, at now: UInt64 = 0
    ) -> Result<Endpoint, NATDropReason> {
        translateOutbound(transport: transport, source: source, destination: destination, tcpFlags: flags, now: now)
    }

    fileprivate func receive(
        _ transport: TransportProtocol = .udp, from source: Endpoint, to destination: Endpoint,
        flags: TCPFlags? = nil, at now: UInt64 = 0
    ) -> Result<Endpoint, NATDropReason> {
        translateInbound(transport: transport, source: source, destination: destination, tcpFlags: flags, now: now)
    }
}

// MARK: - The RFC 4787 / RFC 5382 conformance matrix

/// One mapping × filtering × transport combination.
struct NATBehaviorCase: Sendable, CustomTestStringConvertible {
    var mapping: NATConfiguration.Behavior
    var filtering: NATConfiguration.Behavior
    var transport: TransportProtocol

    var testDescription: String { "\(mapping) mapping, \(filtering) filtering, \(transport)" }

    var configuration: NATConfiguration { NATConfiguration(mapping: mapping, filtering: filtering) }
    /// TCP cases open with a SYN outbound and are probed with a SYN inbound (simultaneous open).
    var flags: TCPFlags? { transport == .tcp ? .syn : nil }

    static let all: [NATBehaviorCase] = TransportProtocol.allCases.flatMap { transport in
        NATConfiguration.Behavior.allCases.flatMap { mapping in
            NATConfiguration.Behavior.allCases.map { filtering in
                NATBehaviorCase(mapping: mapping, filtering: filtering, transport: transport)
            }
        }
    }
}

/// RFC 4787 section 5: which sources each filter admits once the inside host has sent to `server`.
private func expectedAdmission(
    _ filtering: NATConfiguration.Behavior
) -> (contacted: Bool, sameAddressOtherPort: Bool, otherAddress: Bool) {
    switch filtering {
    case .endpointIndependent: (true, true, true)
    case .addressDependent: (true, true, false)
    case .addressAndPortDependent: (true, false, false)
    }
}

/// RFC 4787 section 4.1: whether a second destination reuses the external endpoint of the first.
private func expectedReuse(_ mapping: NATConfiguration.Behavior) -> (sameAddressOtherPort: Bool, otherAddress: Bool) {
    switch mapping {
    case .endpointIndependent: (true, true)
    case .addressDependent: (true, false)
    case .addressAndPortDependent: (false, false)
    }
}

@Suite struct NATTableConformanceTests {
    @Test("an inbound packet passes the filter exactly when RFC 4787 section 5 says", arguments: NATBehaviorCase.all)
    func filtering(_ c: NATBehaviorCase) throws {
        let expected = expectedAdmission(c.filtering)
        let probes = [
            (server, expected.contacted), (serverOtherPort, expected.sameAddressOtherPort),
            (otherServer, expected.otherAddress),
        ]
        for (source, admitted) in probes {
            // A fresh NAT per probe, so one probe cannot open the way for the next.
            let nat = makeNAT(c.configuration)
            let external = try nat.send(c.transport, from: alice, to: server, flags: c.flags).get()
            let result = nat.receive(c.transport, from: source, to: external, flags: c.flags, at: second)
            let wanted: Result<Endpoint, NATDropReason> = admitted ? .success(alice) : .failure(.filtered)
            #expect(result == wanted, "inbound from \(source)")
        }
    }

    @Test("a second destination reuses the external port exactly when RFC 4787 section 4.1 says",
          arguments: NATBehaviorCase.all)
    func mapping(_ c: NATBehaviorCase) throws {
        let expected = expectedReuse(c.mapping)
        let nat = makeNAT(c.configuration)
        let first = try nat.send(c.transport, from: alice, to: server, flags: c.flags).get()
        let toOtherPort = try nat.send(c.transport, from: alice, to: serverOtherPort, flags: c.flags).get()
        let toOtherAddress = try nat.send(c.transport, from: alice, to: otherServer, flags: c.flags).get()
        #expect((toOtherPort == first) == expected.sameAddressOtherPort)
        #expect((toOtherAddress == first) == expected.otherAddress)
        // Port overloading is not done: distinct mappings have distinct ports.
        let distinct = Set([first, toOtherPort, toOtherAddress]).count
        #expect(nat.mappingCount(now: 0) == distinct)
        #expect(first.address == wanAddress)
    }

    @Test("an address-and-port-dependent filter drops a SYN from an unknown port")
    func apdFilterDropsSYNFromUnknownPort() throws {
        let nat = makeNAT(NATConfiguration(filtering: .addressAndPortDependent))
        let external = try nat.send(.tcp, from: alice, to: server, flags: .syn).get()
        #expect(nat.receive(.tcp, from: serverOtherPort, to: external, flags: .syn) == .failure(.filtered))
        #expect(nat.receive(.tcp, from: server, to: external, flags: [.syn, .ack]) == .success(alice))
    }

    @Test("an endpoint-independent filter admits a SYN from a host never contacted")
    func eiFilterAdmitsStranger() throws {
        let nat = makeNAT(NATConfiguration(filtering: .endpointIndependent))
        let external = try nat.send(.tcp, from: alice, to: server, flags: .syn).get()
        #expect(nat.receive(.tcp, from: otherServer, to: external, flags: .syn) == .success(alice))
    }

    @Test("an address-dependent filter opens to a host's other ports only once that host was contacted")
    func adFilterLearnsAddresses() throws {
        let nat = makeNAT(NATConfiguration(filtering: .addressDependent))
        let external = try nat.send(from: alice, to: server).get()
        #expect(nat.receive(from: Endpoint(otherServer.address, 9), to: external) == .failure(.filtered))
        _ = try nat.send(from: alice, to: otherServer).get()
        #expect(nat.receive(from: Endpoint(otherServer.address, 9), to: external) == .success(alice))
    }

    @Test("a packet to a port without a mapping, or to another address, finds no mapping")
    func noMapping() throws {
        let nat = makeNAT(NATConfiguration(filtering: .endpointIndependent))
        let external = try nat.send(from: alice, to: server).get()
        #expect(nat.receive(from: server, to: Endpoint(wanAddress, external.port &+ 1)) == .failure(.noMapping))
        #expect(nat.receive(from: server, to: Endpoint(IPv4Address(203, 0, 113, 2), external.port))
            == .failure(.noMapping))
        // Mappings are per transport: a UDP mapping does not admit TCP.
        #expect(nat.receive(.tcp, from: server, to: external, flags: .syn) == .failure(.noMapping))
    }
}

// MARK: - Timeouts

@Suite struct NATTableTimeoutTests {
    @Test("a UDP mapping lives 120 s idle and not a nanosecond less")
    func udpTimeout() throws {
        let nat = makeNAT(NATConfiguration(inboundRefresh: false))
        let external = try nat.send(from: alice, to: server, at: 0).get()
        #expect(nat.receive(from: server, to: external, at: 120 * second - 1) == .success(alice))
        #expect(nat.mappingCount(now: 120 * second - 1) == 1)
        #expect(nat.mappingCount(now: 120 * second) == 0)
        #expect(nat.receive(from: server, to: external, at: 120 * second) == .failure(.noMapping))
    }

    @Test("outbound traffic refreshes a UDP mapping and keeps its port")
    func outboundRefresh() throws {
        let nat = makeNAT(NATConfiguration(inboundRefresh: false))
        let external = try nat.send(from: alice, to: server, at: 0).get()
        #expect(try nat.send(from: alice, to: server, at: 100 * second).get() == external)
        #expect(nat.receive(from: server, to: external, at: 220 * second - 1) == .success(alice))
        #expect(nat.receive(from: server, to: external, at: 220 * second) == .failure(.noMapping))
    }

    @Test("inbound traffic refreshes a mapping only when inboundRefresh is on", arguments: [true, false])
    func inboundRefresh(enabled: Bool) throws {
        let nat = makeNAT(NATConfiguration(inboundRefresh: enabled))
        let external = try nat.send(from: alice, to: server, at: 0).get()
        #expect(nat.receive(from: server, to: external, at: 100 * second) == .success(alice))
        // 150 s after the last outbound packet, 50 s after the last inbound one.
        let late = nat.receive(from: server, to: external, at: 150 * second)
        let expected: Result<Endpoint, NATDropReason> = enabled ? .success(alice) : .failure(.noMapping)
        #expect(late == expected)
    }

    @Test("an expired mapping frees its port for the next host that wants it")
    func expiryFreesPort() throws {
        let nat = makeNAT()
        let contender = Endpoint(bob.address, alice.port)
        #expect(try nat.send(from: alice, to: server, at: 0).get().port == alice.port)
        #expect(try nat.send(from: contender, to: server, at: 60 * second).get().port != alice.port)
        let laterContender = Endpoint(IPv4Address(192, 168, 1, 12), alice.port)
        #expect(try nat.send(from: laterContender, to: server, at: 120 * second).get().port == alice.port)
    }

    @Test("an established TCP mapping survives two hours idle, and expires at 2 h 4 min")
    func tcpEstablished() throws {
        let nat = makeNAT()
        let external = try nat.send(.tcp, from: alice, to: server, flags: .syn, at: 0).get()
        #expect(nat.receive(.tcp, from: server, to: external, flags: [.syn, .ack], at: 1) == .success(alice))
        _ = try nat.send(.tcp, from: alice, to: server, flags: .ack, at: 2).get()
        #expect(nat.mappingCount(now: 2 + 2 * Nanoseconds.hour) == 1)
        #expect(nat.mappingCount(now: 2 + 7440 * second - 1) == 1)
        #expect(nat.mappingCount(now: 2 + 7440 * second) == 0)
        #expect(nat.receive(.tcp, from: server, to: external, flags: .ack, at: 2 + 2 * Nanoseconds.hour)
            == .success(alice))
    }

    @Test("a TCP mapping whose SYN was never answered expires after 4 minutes")
    func tcpTransitory() throws {
        let nat = makeNAT()
        let external = try nat.send(.tcp, from: alice, to: server, flags: .syn, at: 0).get()
        // Retransmitted SYNs refresh it but do not make it established.
        _ = try nat.send(.tcp, from: alice, to: server, flags: .syn, at: 3 * second).get()
        #expect(nat.mappingCount(now: 243 * second - 1) == 1)
        #expect(nat.receive(.tcp, from: server, to: external, flags: [.syn, .ack], at: 243 * second)
            == .failure(.noMapping))
    }

    @Test("a SYN crossing an outbound SYN (simultaneous open) establishes the mapping")
    func simultaneousOpenEstablishes() throws {
        let nat = makeNAT()
        let external = try nat.send(.tcp, from: alice, to: server, flags: .syn, at: 0).get()
        #expect(nat.receive(.tcp, from: server, to: external, flags: .syn, at: second) == .success(alice))
        #expect(nat.mappingCount(now: second + Nanoseconds.hour) == 1)
    }

    @Test("a FIN or RST puts an established TCP mapping back on the 4-minute timeout",
          arguments: [TCPFlags.fin, TCPFlags.rst])
    func closingIsTransitory(flag: TCPFlags) throws {
        let nat = makeNAT()
        let external = try nat.send(.tcp, from: alice, to: server, flags: .syn, at: 0).get()
        #expect(nat.receive(.tcp, from: server, to: external, flags: [.syn, .ack], at: 1) == .success(alice))
        _ = try nat.send(.tcp, from: alice, to: server, flags: [flag, .ack], at: second).get()
        #expect(nat.mappingCount(now: second + 240 * second - 1) == 1)
        #expect(nat.mappingCount(now: second + 240 * second) == 0)
    }

    @Test("a new SYN after a close re-establishes the mapping")
    func reopenAfterClose() throws {
        let nat = makeNAT()
        let external = try nat.send(.tcp, from: alice, to: server, flags: .syn, at: 0).get()
        _ = nat.receive(.tcp, from: server, to: external, flags: [.syn, .ack], at: 1)
        _ = try nat.send(.tcp, from: alice, to: server, flags: .fin, at: 2).get()
        // Traffic after the FIN without a new SYN keeps it transitory.
        _ = nat.receive(.tcp, from: server, to: external, flags: .ack, at: 3)
        #expect(nat.mappingCount(now: 3 + 240 * second) == 0)
        _ = try nat.send(.tcp, from: alice, to: server, flags: .syn, at: 4).get()
        _ = nat.receive(.tcp, from: server, to: external, flags: [.syn, .ack], at: 5)
        #expect(nat.mappingCount(now: 5 + Nanoseconds.hour) == 1)
    }
}

// MARK: - Port allocation

@Suite struct NATTablePortAllocationTests {
    @Test("port preservation keeps a free internal port, per transport")
    func preservation() throws {
        let nat = makeNAT()
        #expect(try nat.send(from: alice, to: server).get() == Endpoint(wanAddress, alice.port))
        // TCP ports are a separate space: the same port is still free there.
        let tcpTwin = Endpoint(bob.address, alice.port)
        #expect(try nat.send(.tcp, from: tcpTwin, to: server, flags: .syn).get().port == alice.port)
    }

    @Test("on a preservation conflict the second host gets the next port after the last one handed out")
    func preservationConflict() throws {
        let nat = makeNAT()
        let twin = Endpoint(bob.address, alice.port)
        #expect(try nat.send(from: alice, to: server).get().port == 40000)
        #expect(try nat.send(from: twin, to: server).get().port == 40001)
    }

    @Test("an internal port outside the range is not preserved")
    func preservationOutsideRange() throws {
        let nat = makeNAT()
        #expect(try nat.send(from: Endpoint(alice.address, 80), to: server).get().port == 1024)
    }

    @Test("sequential allocation hands out ports in order, wraps, and reports exhaustion")
    func sequential() throws {
        let nat = makeNAT(NATConfiguration(portPreservation: false, portRange: 2000...2002))
        let hosts = (1...4).map { Endpoint(IPv4Address(192, 168, 1, UInt8($0)), 5000) }
        #expect(try nat.send(from: hosts[0], to: server, at: 0).get().port == 2000)
        #expect(try nat.send(from: hosts[1], to: server, at: 0).get().port == 2001)
        #expect(try nat.send(from: hosts[2], to: server, at: 0).get().port == 2002)
        #expect(nat.send(from: hosts[3], to: server, at: 0) == .failure(.portsExhausted))
        // Keep hosts 1 and 2 alive; host 0's mapping expires and its port is reused after wrapping.
        _ = try nat.send(from: hosts[1], to: server, at: 100 * second).get()
        _ = try nat.send(from: hosts[2], to: server, at: 100 * second).get()
        #expect(try nat.send(from: hosts[3], to: server, at: 130 * second).get().port == 2000)
    }

    /// The external ports `count` hosts get from a random-allocating NAT seeded with `seed`.
    private func randomPorts(seed: UInt64, count: Int, range: ClosedRange<UInt16> = 1024...65535) -> [UInt16] {
        let nat = makeNAT(
            NATConfiguration(portPreservation: false, portAllocation: .random, portRange: range), seed: seed)
        return (0..<count).compactMap { index in
            let host = Endpoint(IPv4Address(10, 0, UInt8(index / 250), UInt8(index % 250 + 1)), 5000)
            return try? nat.send(from: host, to: server).get()
        }.map(\.port)
    }

    @Test("random allocation is the same for a seed and differs across seeds")
    func randomIsSeeded() {
        let first = randomPorts(seed: 7, count: 20)
        #expect(first.count == 20)
        #expect(Set(first).count == 20)
        #expect(first.allSatisfy { (1024...65535).contains($0) })
        #expect(randomPorts(seed: 7, count: 20) == first)
        #expect(randomPorts(seed: 8, count: 20) != first)
        // Not sequential in disguise.
        #expect(first != first.sorted())
    }

    @Test("random allocation fills a small range completely before reporting exhaustion")
    func randomFillsRange() {
        let ports = randomPorts(seed: 3, count: 9, range: 3000...3007)
        #expect(ports.count == 8)
        #expect(Set(ports) == Set(3000...3007))
    }
}

// MARK: - Reboot, blocked UDP, hairpinning

@Suite struct NATTableDeviceTests {
    @Test("a reboot loses every mapping")
    func reboot() throws {
        let nat = makeNAT()
        let external = try nat.send(from: alice, to: server).get()
        _ = try nat.send(.tcp, from: bob, to: server, flags: .syn).get()
        #expect(nat.mappingCount(now: 0) == 2)
        nat.reboot()
        #expect(nat.mappingCount(now: 0) == 0)
        #expect(nat.receive(from: server, to: external, at: 1) == .failure(.noMapping))
        #expect(try nat.send(from: alice, to: server, at: 2).get() == external)
    }

    @Test("a network that blocks UDP drops it both ways and still carries TCP")
    func blocksUDP() throws {
        let nat = makeNAT(NATConfiguration(filtering: .endpointIndependent, blocksUDP: true))
        #expect(nat.send(from: alice, to: server) == .failure(.udpBlocked))
        #expect(nat.receive(from: server, to: Endpoint(wanAddress, alice.port)) == .failure(.udpBlocked))
        let external = try nat.send(.tcp, from: alice, to: server, flags: .syn).get()
        #expect(nat.receive(.tcp, from: server, to: external, flags: [.syn, .ack]) == .success(alice))
        #expect(nat.mappingCount(now: 0) == 1)
    }

    @Test("hairpinning delivers to the inside host with the sender's external endpoint as source")
    func hairpinning() throws {
        let nat = makeNAT(NATConfiguration(filtering: .endpointIndependent, hairpinning: true))
        let bobExternal = try nat.send(from: bob, to: server).get()
        let aliceExternal = try nat.send(from: alice, to: server).get()
        let result = try nat.translateHairpin(
            transport: .udp, source: alice, destination: bobExternal, tcpFlags: nil, now: 1
        ).get()
        #expect(result.source == aliceExternal)
        #expect(result.destination == bob)
    }

    @Test("a hairpinned packet is filtered like any inbound one until the target has sent to the sender")
    func hairpinFiltering() throws {
        let nat = makeNAT(NATConfiguration(filtering: .addressAndPortDependent, hairpinning: true))
        let bobExternal = try nat.send(from: bob, to: server).get()
        let first = nat.translateHairpin(transport: .udp, source: alice, destination: bobExternal, tcpFlags: nil, now: 1)
        #expect(throws: NATDropReason.filtered) { try first.get() }
        // Alice's attempt created her mapping toward bobExternal; Bob answers it, punching his own filter.
        let aliceExternal = Endpoint(wanAddress, alice.port)
        let answer = try nat.translateHairpin(
            transport: .udp, source: bob, destination: aliceExternal, tcpFlags: nil, now: 2
        ).get()
        #expect(answer.source == bobExternal && answer.destination == alice)
        let retry = try nat.translateHairpin(
            transport: .udp, source: alice, destination: bobExternal, tcpFlags: nil, now: 3
        ).get()
        #expect(retry.destination == bob)
    }

    @Test("without hairpinning a packet to the NAT's own external address is dropped")
    func noHairpinning() throws {
        let nat = makeNAT(NATConfiguration(filtering: .endpointIndependent, hairpinning: false))
        let bobExternal = try nat.send(from: bob, to: server).get()
        let result = nat.translateHairpin(transport: .udp, source: alice, destination: bobExternal, tcpFlags: nil, now: 1)
        #expect(throws: NATDropReason.noHairpinning) { try result.get() }
        #expect(nat.mappingCount(now: 1) == 1)
    }
}

// MARK: - Hole punching

/// The classic NAT types, as mapping + filtering pairs.
enum ClassicNAT: String, Sendable, CaseIterable {
    case fullCone = "full cone"
    case restrictedCone = "restricted cone"
    case portRestrictedCone = "port-restricted cone"
    case symmetric

    var configuration: NATConfiguration {
        switch self {
        case .fullCone: NATConfiguration(mapping: .endpointIndependent, filtering: .endpointIndependent)
        case .restrictedCone: NATConfiguration(mapping: .endpointIndependent, filtering: .addressDependent)
        case .portRestrictedCone: NATConfiguration(mapping: .endpointIndependent, filtering: .addressAndPortDependent)
        case .symmetric: NATConfiguration(mapping: .addressAndPortDependent, filtering: .addressAndPortDependent)
        }
    }
}

/// Whether peers behind NATs `a` and `b` can punch a hole to each other, simulated on the tables
/// alone: each peer registers with a public rendezvous server, which observes its external
/// endpoint and tells the other peer; both then send to the other's observed endpoint at once
/// (the punches cross); a peer that receives a punch answers the source it came from, as ICE's
/// peer-reflexive candidates do. Success means a packet got through in each direction.
private func holePunchSucceeds(_ a: NATConfiguration, _ b: NATConfiguration, transport: TransportProtocol) -> Bool {
    let natA = NATTable(
        configuration: a, externalAddress: IPv4Address(203, 0, 113, 1), random: SimRandom(seed: 1, label: "a"))
    let natB = NATTable(
        configuration: b, externalAddress: IPv4Address(198, 51, 100, 1), random: SimRandom(seed: 1, label: "b"))
    let peerA = Endpoint(IPv4Address(192, 168, 1, 10), 40000)
    let peerB = Endpoint(IPv4Address(192, 168, 2, 20), 40000)
    let rendezvous = Endpoint(IPv4Address(192, 0, 2, 10), 3478)
    let flags: TCPFlags? = transport == .tcp ? .syn : nil

    guard case .success(let observedA) = natA.translateOutbound(
            transport: transport, source: peerA, destination: rendezvous, tcpFlags: flags, now: 0),
        case .success(let observedB) = natB.translateOutbound(
            transport: transport, source: peerB, destination: rendezvous, tcpFlags: flags, now: 0)
    else { return false }

    // Both punches leave before either arrives.
    guard case .success(let punchSourceA) = natA.translateOutbound(
            transport: transport, source: peerA, destination: observedB, tcpFlags: flags, now: 1),
        case .success(let punchSourceB) = natB.translateOutbound(
            transport: transport, source: peerB, destination: observedA, tcpFlags: flags, now: 1)
    else { return false }
    var bHeardA = natB.translateInbound(
        transport: transport, source: punchSourceA, destination: observedB, tcpFlags: flags, now: 2) == .success(peerB)
    var aHeardB = natA.translateInbound(
        transport: transport, source: punchSourceB, destination: observedA, tcpFlags: flags, now: 2) == .success(peerA)

    // Whoever heard the other answers the endpoint the punch came from.
    if bHeardA && !aHeardB,
        case .success(let replySource) = natB.translateOutbound(
            transport: transport, source: peerB, destination: punchSourceA, tcpFlags: flags, now: 3)
    {
        aHeardB = natA.translateInbound(
            transport: transport, source: replySource, destination: punchSourceA, tcpFlags: flags, now: 4)
            == .success(peerA)
    }
    if aHeardB && !bHeardA,
        case .success(let replySource) = natA.translateOutbound(
            transport: transport, source: peerA, destination: punchSourceB, tcpFlags: flags, now: 3)
    {
        bHeardA = natB.translateInbound(
            transport: transport, source: replySource, destination: punchSourceB, tcpFlags: flags, now: 4)
            == .success(peerB)
    }
    return aHeardB && bHeardA
}

struct NATPunchCase: Sendable, CustomTestStringConvertible {
    var a: ClassicNAT
    var b: ClassicNAT
    var punches: Bool
    var testDescription: String { "\(a.rawValue) + \(b.rawValue) \(punches ? "punches" : "fails")" }
}

/// The well-known outcomes: any two cone NATs punch; a symmetric NAT punches only with a peer whose
/// filter does not care about the port (full or restricted cone), since its punch comes from a port
/// the peer never saw.
private let punchTable: [NATPunchCase] = [
    NATPunchCase(a: .fullCone, b: .fullCone, punches: true),
    NATPunchCase(a: .fullCone, b: .restrictedCone, punches: true),
    NATPunchCase(a: .fullCone, b: .portRestrictedCone, punches: true),
    NATPunchCase(a: .restrictedCone, b: .restrictedCone, punches: true),
    NATPunchCase(a: .restrictedCone, b: .portRestrictedCone, punches: true),
    NATPunchCase(a: .portRestrictedCone, b: .portRestrictedCone, punches: true),
    NATPunchCase(a: .symmetric, b: .fullCone, punches: true),
    NATPunchCase(a: .symmetric, b: .restrictedCone, punches: true),
    NATPunchCase(a: .symmetric, b: .portRestrictedCone, punches: false),
    NATPunchCase(a: .symmetric, b: .symmetric, punches: false),
]

@Suite struct NATHolePunchingTests {
    @Test("hole punching between classic NAT types has the well-known outcome, whichever side is which",
          arguments: punchTable, [TransportProtocol.udp, .tcp])
    func classicPairs(_ c: NATPunchCase, transport: TransportProtocol) {
        #expect(holePunchSucceeds(c.a.configuration, c.b.configuration, transport: transport) == c.punches)
        #expect(holePunchSucceeds(c.b.configuration, c.a.configuration, transport: transport) == c.punches)
    }

    @Test("endpoint-independent mapping on both sides punches whatever the filtering",
          arguments: NATConfiguration.Behavior.allCases, NATConfiguration.Behavior.allCases)
    func endpointIndependentMappingAlwaysPunches(
        filteringA: NATConfiguration.Behavior, filteringB: NATConfiguration.Behavior
    ) {
        let a = NATConfiguration(mapping: .endpointIndependent, filtering: filteringA)
        let b = NATConfiguration(mapping: .endpointIndependent, filtering: filteringB)
        #expect(holePunchSucceeds(a, b, transport: .udp))
        #expect(holePunchSucceeds(a, b, transport: .tcp))
    }

    @Test("a NAT that blocks UDP cannot be punched over UDP, even by a full cone")
    func blockedUDPNeverPunches() {
        var blocked = ClassicNAT.fullCone.configuration
        blocked.blocksUDP = true
        #expect(!holePunchSucceeds(blocked, ClassicNAT.fullCone.configuration, transport: .udp))
        #expect(holePunchSucceeds(blocked, ClassicNAT.fullCone.configuration, transport: .tcp))
    }
}

// MARK: - Without an input filter: the conntrack collision of a punch that arrives first

@Suite("NAT without an input filter")
struct NATInputFilterTests {
    /// Alice's agent keeps a mapping open to the relay (`server`); Bob punches to Alice's public
    /// port before Alice has sent to him.
    private func punchArrivesFirst(filtersInput: Bool, transport: TransportProtocol) -> (port: UInt16?, admitted: Bool) {
        let nat = makeNAT(NATConfiguration(filtersInput: filtersInput))
        let flags: TCPFlags? = transport == .tcp ? .syn : nil
        guard case .success(let mapped) = nat.send(transport, from: alice, to: server, flags: flags) else { return (nil, false) }
        let bob = Endpoint(IPv4Address(198, 51, 100, 20), 61000)
        #expect(nat.receive(transport, from: bob, to: mapped, flags: flags, at: second) == .failure(.filtered))
        guard case .success(let toBob) = nat.send(transport, from: alice, to: bob, flags: flags, at: 2 * second) else { return (nil, false) }
        let answer = nat.receive(transport, from: bob, to: toBob, flags: flags, at: 3 * second)
        return (toBob.port, answer == .success(alice))
    }

    @Test("with the filter, the punch leaves no trace: Alice reaches Bob from the port Bob punched", arguments: TransportProtocol.allCases)
    func filtered(transport: TransportProtocol) {
        let outcome = punchArrivesFirst(filtersInput: true, transport: transport)
        #expect(outcome.port == alice.port)
        #expect(outcome.admitted)
    }

    @Test("without it, the router's own entry for Bob takes the port: Alice's flow to Bob leaves from another", arguments: TransportProtocol.allCases)
    func collision(transport: TransportProtocol) {
        let outcome = punchArrivesFirst(filtersInput: false, transport: transport)
        #expect(outcome.port != nil && outcome.port != alice.port)
        // Bob's answers to the new port reach Alice; but Bob punched the old one, so a punch
        // between two such routers misses.
        #expect(outcome.admitted)
    }

    @Test("the entry expires: after 30 s (UDP) Alice's flow to Bob keeps her port again")
    func strayExpires() {
        let nat = makeNAT(NATConfiguration(filtersInput: false))
        guard case .success(let mapped) = nat.send(from: alice, to: server) else { Issue.record("no mapping"); return }
        let bob = Endpoint(IPv4Address(198, 51, 100, 20), 61000)
        _ = nat.receive(from: bob, to: mapped, at: second)
        #expect(nat.send(from: alice, to: bob, at: 32 * second) == .success(mapped))
    }
}
