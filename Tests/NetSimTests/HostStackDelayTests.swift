import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

@Suite("A host's reaction time (hostJitter)")
struct HostStackDelayTests {
    static let latency = 5 * Nanoseconds.millisecond
    static let spacing = 100 * Nanoseconds.microsecond

    /// 200 datagrams, 100 µs apart, from `a` to `b` over a 5 ms link; when `b`'s application saw each.
    private func arrivals(hostJitter: UInt64, seed: UInt64 = 1) throws -> [(at: UInt64, sequence: UInt8)] {
        let link = LinkSpec(both: LinkProfile(latency: Self.latency))
        let sim = try Simulator(
            seed: seed,
            topology: TopologySpec(
                networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/24")!)],
                nodes: [.init(name: "a", network: "lan", link: link), .init(name: "b", network: "lan", hostJitter: hostJitter)]))
        let a = sim.host(named: "a")!, b = sim.host(named: "b")!
        let recorder = ArrivalRecorder(simulator: sim)
        _ = b.bindDatagram(DatagramBindOptions(address: b.address.socketAddress(port: 9000))) { channel in
            channel.pipeline.addHandler(recorder)
        }
        var sender: Channel?
        a.bindDatagram(DatagramBindOptions(address: a.address.socketAddress(port: 0))) { _ in a.eventLoop.makeSucceededVoidFuture() }
            .whenSuccess { sender = $0 }
        sim.run(for: Nanoseconds.millisecond)
        let socket = try #require(sender)
        for sequence in 0..<200 {
            a.eventLoop.scheduleTask(in: .nanoseconds(Int64(UInt64(sequence) * Self.spacing))) {
                socket.writeAndFlush(
                    AddressedEnvelope(remoteAddress: b.address.socketAddress(port: 9000), data: ByteBuffer(bytes: [UInt8(sequence)])),
                    promise: nil)
            }
        }
        let start = sim.now
        sim.run(for: Nanoseconds.second)
        return recorder.arrivals.map { ($0.at - start, $0.sequence) }
    }

    @Test("an ideal host takes every packet the moment it arrives")
    func idealHost() throws {
        let arrivals = try arrivals(hostJitter: 0)
        #expect(arrivals.count == 200)
        for (index, arrival) in arrivals.enumerated() {
            #expect(arrival.at == UInt64(index) * Self.spacing + Self.latency)
        }
    }

    @Test("with jitter, each packet is taken up to that long after it arrived, in arrival order")
    func jitteryHost() throws {
        let jitter = 2 * Nanoseconds.millisecond
        let arrivals = try arrivals(hostJitter: jitter)
        #expect(arrivals.map(\.sequence) == (0..<200).map(UInt8.init))
        var delays: [UInt64] = []
        for (index, arrival) in arrivals.enumerated() {
            let wire = UInt64(index) * Self.spacing + Self.latency
            #expect(arrival.at >= wire)
            delays.append(arrival.at - wire)
        }
        // Order is kept, so a packet may also wait behind a later-drawn predecessor, never
        // longer than the jitter.
        #expect(delays.allSatisfy { $0 <= jitter })
        #expect(Set(delays).count > 50, "the delays vary: \(delays.prefix(10))")
        #expect(delays.reduce(0, +) / UInt64(delays.count) > jitter / 4)
    }

    @Test("the same seed draws the same delays; another seed others")
    func seeded() throws {
        let jitter = 2 * Nanoseconds.millisecond
        let first = try arrivals(hostJitter: jitter, seed: 7).map(\.at)
        #expect(try arrivals(hostJitter: jitter, seed: 7).map(\.at) == first)
        #expect(try arrivals(hostJitter: jitter, seed: 8).map(\.at) != first)
    }
}
