@testable import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// The datagram path's probing, against a peer that holds the keys and misbehaves.
@Suite struct TunnelDatagramSessionTests {
    static let s = Nanoseconds.second

    /// A peer's authenticated pings from ever new source ports (or forged source addresses)
    /// each make a new endpoint to probe; the session keeps the newest
    /// `maximumLearnedCandidates`, so the peer cannot steer this node into pinging addresses
    /// without bound every round.
    @Test func pingsFromManySourcesLeaveOnlyTheNewestFewToProbe() throws {
        let sim = try Simulator(
            seed: 3,
            topology: TopologySpec(
                networks: [.init(name: "lan", subnet: IPv4Prefix("192.168.1.0/24")!)],
                nodes: [.init(name: "a", network: "lan"), .init(name: "mallory", network: "lan")]))
        let a = try #require(sim.host(named: "a")), mallory = try #require(sim.host(named: "mallory"))
        var peers = try NoisePeers(seed: 21)
        let (ours, theirs) = try peers.transports()
        let socket = TunnelDatagramSocket(host: a, port: 20006)
        _ = socket.start()
        sim.run(for: Self.s)
        let session = socket.makeSession(transport: ours, keepaliveInterval: .seconds(10), deadAfter: .seconds(35)) { _ in }
        session.receiveOffer(index: 77, candidates: [], observed: [])

        var sealing = theirs
        var sources: [TunnelEndpointAddress] = []
        for port in 30_000..<30_040 as Range<UInt16> {
            var plaintext = ByteBuffer()
            TunnelFrame.ping(nonce: UInt64(port)).encode(into: &plaintext)
            var datagram = ByteBuffer()
            datagram.writeInteger(TunnelDatagramSession.messageType)
            datagram.writeInteger(session.localIndex)
            datagram.writeBytes(try sealing.seal(Array(plaintext.readableBytesView)))
            let sent = datagram
            _ = mallory.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: port))) { _ in
                mallory.eventLoop.makeSucceededVoidFuture()
            }.map { channel in
                channel.writeAndFlush(AddressedEnvelope(remoteAddress: a.address.socketAddress(port: 20006), data: sent), promise: nil)
            }
            sources.append(TunnelEndpointAddress(mallory.address, port))
        }
        sim.run(for: Self.s)
        #expect(socket.rejected == 0, "every ping authenticated")
        #expect(session.candidates.count == TunnelDatagramSession.maximumLearnedCandidates, "\(session.candidates)")
        #expect(session.learned == Array(sources.suffix(TunnelDatagramSession.maximumLearnedCandidates)))
        session.close()
        socket.stop()
        sim.run(for: Self.s)
    }
}
