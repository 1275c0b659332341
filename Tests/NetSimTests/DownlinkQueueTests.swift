import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// A bandwidth-limited link queues packets in the order they reach it, whoever sent them.
@Suite("A receiver's bandwidth-limited link")
struct DownlinkQueueTests {
    /// Found by a chaos sweep (quickstart, seed 32): a packet from a sender one second away
    /// was queued on the receiver's link a second early, so a packet from a near sender,
    /// sent later but arriving first, found a "full" queue and was dropped. In the quickstart
    /// about 380 packets a run were lost this way, every 12th request to the cloud timed out.
    @Test("a packet from a near sender is not dropped for one still on its way from a far sender")
    func queueFollowsArrivalOrder() throws {
        let sim = try Simulator(
            seed: 1,
            topology: TopologySpec(
                networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/24")!)],
                nodes: [
                    .init(name: "far", network: "lan", link: LinkSpec(both: LinkProfile(latency: Nanoseconds.second))),
                    .init(name: "near", network: "lan"),
                    .init(
                        name: "receiver", network: "lan",
                        link: LinkSpec(both: LinkProfile(bandwidth: 8_000_000, queueLimit: 64 * 1024))),
                ]))
        let receiver = sim.host(named: "receiver")!
        let recorder = ArrivalRecorder(simulator: sim)
        _ = receiver.bindDatagram(DatagramBindOptions(address: receiver.address.socketAddress(port: 9000))) { channel in
            channel.pipeline.addHandler(recorder)
        }
        var sockets: [String: Channel] = [:]
        for name in ["far", "near"] {
            let host = sim.host(named: name)!
            host.bindDatagram(DatagramBindOptions(address: host.address.socketAddress(port: 0))) { _ in host.eventLoop.makeSucceededVoidFuture() }
                .whenSuccess { sockets[name] = $0 }
        }
        sim.run(for: Nanoseconds.millisecond)
        func send(from name: String, _ sequence: UInt8, after delay: TimeAmount) {
            let socket = sockets[name]!
            socket.eventLoop.scheduleTask(in: delay) {
                socket.writeAndFlush(
                    AddressedEnvelope(remoteAddress: receiver.address.socketAddress(port: 9000), data: ByteBuffer(bytes: [sequence] + [UInt8](repeating: 0, count: 999))),
                    promise: nil)
            }
        }
        send(from: "far", 1, after: .zero)
        send(from: "near", 2, after: .milliseconds(10))
        let start = sim.now
        sim.run(for: 2 * Nanoseconds.second)
        #expect(sim.droppedPackets == 0)
        #expect(recorder.arrivals.map(\.sequence) == [2, 1])
        // 1,028 bytes on the wire at 8 Mbit/s take about a millisecond.
        #expect(recorder.arrivals.first.map { $0.at - start < 12 * Nanoseconds.millisecond } == true)
    }
}
