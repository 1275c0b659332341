// NetSim benchmark: simulator throughput and the cost of idle hosts.
//
// Prints one line per figure, `name value unit`. Run in release on one core:
//   swift run -c release NetSimBenchmark [--quick] [--only pipelines|raw|idle]
// (taskset -c 0 pins it to one core where available.)

import Foundation
import Mesh
import NIOCore
import NetSim
import NetworkTopology
import Scenario

/// Bounces every datagram back to its sender: traffic that needs no timers once started.
final class BounceHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }
}

/// Sends a keepalive datagram to `target` every `interval`, as a tunnel keeps a NAT mapping open.
final class KeepaliveHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Receives a future's value on the simulation thread, where the benchmark also runs.
final class ResultSlot<Value>: @unchecked Sendable {
    var value: Value?
}

func lanTopology(hosts: Int, latency: UInt64) -> TopologySpec {
    TopologySpec(
        networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/16")!)],
        nodes: (0..<hosts).map {
            .init(name: "h\($0)", network: "lan", link: LinkSpec(both: LinkProfile(latency: latency)))
        })
}

func wallSeconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func residentBytes() -> Int {
    // /proc/self/statm: size resident ... in pages.
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func report(_ name: String, _ value: Double, _ unit: String) {
    print("\(name) \(value >= 100 ? String(Int(value.rounded())) : String(format: "%.2f", value)) \(unit)")
}

/// Busy traffic: every host keeps `inFlight` datagrams bouncing with its ring neighbour.
func throughput(hosts: Int, simulated: UInt64, inFlight: Int = 4) throws {
    let sim = try Simulator(seed: 1, topology: lanTopology(hosts: hosts, latency: Nanoseconds.millisecond))
    let bound = sim.hosts.map { host in
        host.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 9))) { channel in
            channel.pipeline.addHandler(BounceHandler())
        }
    }
    sim.run(for: 1)
    // Binding completes at once in the simulator; a failure here is a simulator bug.
    let channels = bound.map { future in
        let slot = ResultSlot<Channel>()
        future.whenSuccess { slot.value = $0 }
        return slot.value!
    }
    let hostList = sim.hosts
    for (index, channel) in channels.enumerated() {
        let peer = hostList[(index + 1) % hostList.count].address.socketAddress(port: 9)
        for _ in 0..<inFlight {
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: peer, data: ByteBuffer(repeating: 0, count: 64)), promise: nil)
        }
    }
    let before = sim.deliveredPackets
    let seconds = wallSeconds { sim.run(for: simulated) }
    let delivered = Double(sim.deliveredPackets - before)
    report("netsim_udp_bounce_\(hosts)_hosts_delivered_packets_per_second", delivered / seconds, "packets/s")
    report("netsim_udp_bounce_\(hosts)_hosts_simulated_seconds_per_second", Double(simulated) / 1e9 / seconds, "sim-s/s")
}

/// The same bounce on bare traffic sockets: the network model's own cost per packet,
/// without NIO's channel pipeline on both ends.
func rawThroughput(hosts: Int, simulated: UInt64, inFlight: Int = 4) throws {
    let sim = try Simulator(seed: 1, topology: lanTopology(hosts: hosts, latency: Nanoseconds.millisecond))
    let sockets = try sim.hosts.map { host in
        try host.openTrafficSocket(port: 9) { payload, source, socket in socket.send(payload, to: source) }
    }
    for (index, socket) in sockets.enumerated() {
        let peer = sockets[(index + 1) % sockets.count].local
        let destination = Endpoint(sim.hosts[(index + 1) % sockets.count].address, peer.port)
        for _ in 0..<inFlight { socket.send(ByteBuffer(repeating: 0, count: 64), to: destination) }
    }
    let before = sim.deliveredPackets
    let seconds = wallSeconds { sim.run(for: simulated) }
    let delivered = Double(sim.deliveredPackets - before)
    report("netsim_raw_udp_bounce_\(hosts)_hosts_delivered_packets_per_second", delivered / seconds, "packets/s")
}

/// Mostly idle: hosts in NATed LANs send a keepalive to a public server every 25 s for an hour.
func idleHour(hosts: Int) throws {
    let lans = max(hosts / 50, 1)
    var networks: [TopologySpec.Network] = [.init(name: "internet", subnet: IPv4Prefix("198.51.100.0/24")!)]
    var routers: [TopologySpec.Router] = []
    var nodes: [TopologySpec.Node] = [.init(name: "server", network: "internet")]
    let wan = LinkSpec(both: LinkProfile(latency: 20 * Nanoseconds.millisecond, jitter: 2 * Nanoseconds.millisecond, loss: 0.01))
    for lan in 0..<lans {
        networks.append(.init(name: "lan\(lan)", subnet: IPv4Prefix("10.\(lan / 256).\(lan % 256).0/24")!, router: "nat\(lan)"))
        routers.append(.init(name: "nat\(lan)", upstream: "internet", nat: NATConfiguration(), link: wan))
    }
    for index in 0..<hosts { nodes.append(.init(name: "h\(index)", network: "lan\(index % lans)")) }
    let memoryBefore = residentBytes()
    let sim = try Simulator(seed: 1, topology: TopologySpec(networks: networks, routers: routers, nodes: nodes))
    let server = sim.host(named: "server")!
    server.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 4500))) { channel in
        channel.pipeline.addHandler(BounceHandler())
    }.whenSuccess { _ in }
    let target = server.address.socketAddress(port: 4500)
    var random = MeshRandom(source: SimRandom(seed: 1))
    for host in sim.hosts where host.name != "server" {
        let phase = TimeAmount.milliseconds(Int64.random(in: 0..<25_000, using: &random))
        host.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 4500))) { channel in
            channel.pipeline.addHandler(KeepaliveHandler())
        }.whenSuccess { channel in
            channel.eventLoop.scheduleRepeatedTask(initialDelay: phase, delay: .seconds(25)) { _ in
                channel.writeAndFlush(AddressedEnvelope(remoteAddress: target, data: ByteBuffer(repeating: 1, count: 32)), promise: nil)
            }
        }
    }
    sim.run(for: 1)
    let memoryAfter = residentBytes()
    let seconds = wallSeconds { sim.run(for: Nanoseconds.hour) }
    report("netsim_idle_\(hosts)_hosts_one_hour_wall_time", seconds, "s")
    report("netsim_idle_\(hosts)_hosts_simulated_seconds_per_second", 3600 / seconds, "sim-s/s")
    report("netsim_idle_\(hosts)_hosts_delivered_packets", Double(sim.deliveredPackets), "packets")
    report("netsim_idle_host_memory", Double(memoryAfter - memoryBefore) / Double(hosts + lans), "bytes/node")
}

let arguments = CommandLine.arguments
let quick = arguments.contains("--quick")
/// `--only pipelines|raw|idle` runs one group (to profile it alone).
let only = arguments.firstIndex(of: "--only").flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
func runs(_ group: String) -> Bool { only == nil || only == group }
if runs("pipelines") {
    for hosts in [10, 100, 1000] {
        try throughput(hosts: hosts, simulated: quick ? Nanoseconds.second / 10 : 2 * Nanoseconds.second)
    }
}
if runs("raw") {
    for hosts in [10, 100, 1000] {
        try rawThroughput(hosts: hosts, simulated: quick ? Nanoseconds.second / 10 : 2 * Nanoseconds.second)
    }
}
if runs("idle") { try idleHour(hosts: 1000) }
