// Tunnel benchmark: the CPU cost of the tunnel's handshake and encryption, and bulk transfer
// through two agents' tunnels on a simulated LAN (how fast the tunnel code itself moves bytes,
// the network being ideal and in-process).
//
// Prints one line per figure, `name value unit`. Run in release:
//   swift run -c release TunnelBenchmark

import Foundation
import Mesh
import NIOCore
import NetSim
import NetworkTopology
import Scenario

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func report(_ name: String, _ value: Double, _ unit: String) {
    print("\(name) \(String(format: "%.1f", value)) \(unit)")
}

/// Full gated handshakes (three Noise messages, the PSK MAC, both sides) per second.
func handshakeRate() throws {
    var random = SplitMix(state: 1)
    let psk = try TunnelPresharedKey(secret: "bench")
    let initiatorKey = NoiseKeyPair.generate(using: &random)
    let responderKey = NoiseKeyPair.generate(using: &random)
    let gate = HandshakeInitiationGate(presharedKey: psk, responderStaticKey: responderKey.publicKey)
    let count = 2000
    let clock = ContinuousClock()
    let elapsed = try clock.measure {
        for index in 0..<count {
            var initiator = try NoiseHandshake(role: .initiator, staticKey: initiatorKey, presharedKey: psk.bytes,
                                               random: &random, peerKeyValidator: { $0 == responderKey.publicKey })
            var responder = try NoiseHandshake(role: .responder, staticKey: responderKey, presharedKey: psk.bytes,
                                               random: &random, peerKeyValidator: { _ in true })
            let first = gate.seal(message1: try initiator.writeMessage(payload: []), timestamp: Int64(index))
            _ = try responder.readMessage(try gate.open(first).message1)
            _ = try initiator.readMessage(try responder.writeMessage(payload: []))
            _ = try responder.readMessage(try initiator.writeMessage(payload: Array("node".utf8)))
            _ = try initiator.split()
            _ = try responder.split()
        }
    }
    report("tunnel_handshakes_per_second", Double(count) / seconds(elapsed), "handshakes/s")
}

/// Sealing and opening 16 KiB frames, one core.
func cipherThroughput() throws {
    var random = SplitMix(state: 2)
    let psk = try TunnelPresharedKey(secret: "bench")
    var initiator = try NoiseHandshake(role: .initiator, staticKey: .generate(using: &random), presharedKey: psk.bytes,
                                       random: &random, peerKeyValidator: { _ in true })
    var responder = try NoiseHandshake(role: .responder, staticKey: .generate(using: &random), presharedKey: psk.bytes,
                                       random: &random, peerKeyValidator: { _ in true })
    _ = try responder.readMessage(try initiator.writeMessage(payload: []))
    _ = try initiator.readMessage(try responder.writeMessage(payload: []))
    _ = try responder.readMessage(try initiator.writeMessage(payload: []))
    var sender = try initiator.split()
    var receiver = try responder.split()
    let frame = [UInt8](repeating: 0xA5, count: 16 * 1024)
    let frames = 8192
    let elapsed = try ContinuousClock().measure {
        for _ in 0..<frames { _ = try receiver.open(try sender.seal(frame)) }
    }
    report("tunnel_seal_open_throughput", Double(frames * frame.count) / seconds(elapsed) / 1_048_576, "MiB/s")
}

/// Receives a future's value on the simulation thread.
final class Slot<Value>: @unchecked Sendable {
    var value: Value?
}

final class ByteCounter: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var count = 0
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        count += unwrapInboundIn(data).readableBytes
    }
}

final class Keys: PeerKeyDirectory, @unchecked Sendable {
    var keys: [String: [UInt8]] = [:]
    func publicKey(ofNode node: String) -> [UInt8]? { keys[node] }
}

/// 64 MiB from a to a sink on b through both tunnels, on an ideal simulated LAN.
func simulatedTransfer() throws {
    let sim = try Simulator(
        seed: 1,
        topology: TopologySpec(
            networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/24")!)],
            nodes: [.init(name: "a", network: "lan"), .init(name: "b", network: "lan")]))
    let keys = Keys()
    var tunnels: [String: MeshTunnel] = [:]
    let psk = try TunnelPresharedKey(secret: "bench")
    let b = sim.host(named: "b")!
    for name in ["a", "b"] {
        let host = sim.host(named: name)!
        let address = b.address
        // The benchmark's sink on b is its only target (the agent would allow service endpoints).
        let policy = TunnelTargetPolicy { target, _ in target.port == 9 ? nil : "only the benchmark sink" }
        let tunnel = MeshTunnel(host: host, configuration: TunnelConfiguration(presharedKey: psk, targetPolicy: policy), keys: keys,
                                dialers: [DirectPathDialer(host: host, port: 20006) { _ in [address] }])
        tunnels[name] = tunnel
        tunnel.start().whenSuccess { keys.keys[name] = tunnel.identity!.keyPair.publicKey }
    }
    let received = ByteCounter()
    _ = b.listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: 9))) { $0.pipeline.addHandler(received) }
    sim.run(for: Nanoseconds.second)
    let a = tunnels["a"]!
    let slot = Slot<Channel>()
    a.openStream(to: TunnelTarget(node: "b", address: b.address, port: 9, transport: .tcp), on: a.host.eventLoop)
        .whenSuccess { slot.value = $0 }
    _ = sim.run(until: sim.now + 10 * Nanoseconds.second) { slot.value == nil }
    guard let stream = slot.value else { throw TunnelError.notRunning }
    let total = 64 * 1024 * 1024
    let chunk = ByteBuffer(repeating: 0x5A, count: 64 * 1024)
    let clock = ContinuousClock()
    let elapsed = clock.measure {
        for _ in 0..<(total / chunk.readableBytes) { stream.writeAndFlush(chunk, promise: nil) }
        _ = sim.run(until: sim.now + 600 * Nanoseconds.second) { received.count < total }
    }
    let bytes = a.peerStatuses().first?.bytesSent ?? 0
    report("tunnel_simulated_transfer_wall_throughput", Double(total) / seconds(elapsed) / 1_048_576, "MiB/s")
    report("tunnel_wire_overhead", (Double(bytes) / Double(total) - 1) * 100, "%")
}

try handshakeRate()
try cipherThroughput()
try simulatedTransfer()
