// TunnelLabBenchmark: node to node over veth in network namespaces, in one run: plain TCP,
// wireguard-go, and edgemesh's tunnel direct and relayed (through `edgemesh relay` in a third
// namespace). The tunnel is used the way a user uses it: iperf3 and a TCP client on node-a
// reach a Service whose endpoint is on node-b, through node-a's agent and the tunnel.
// Not a test: it prints figures, `name value unit` with `peer=value ratio=x` where a peer was
// measured in the same run.
//
//   swift build -c release --product edgemesh
//   scripts/bench-deps   (wireguard-go, wireguard-tools, iperf3)
//   swift run -c release TunnelLabBenchmark [path/to/edgemesh] [idle peers, default 24]   (root)
import BenchmarkLab
import Foundation

let name = "TunnelLabBenchmark"
Lab.require(root: name, tools: ["/usr/sbin/ip", "/usr/sbin/nft", "/usr/bin/iperf3", "/usr/bin/python3",
                                "/usr/bin/wireguard-go", "/usr/bin/wg"],
            install: "scripts/bench-deps, or apt-get install iperf3 python3 nftables wireguard-go wireguard-tools")
let agentBinary = CommandLine.arguments.dropFirst().first ?? ".build/release/edgemesh"
guard FileManager.default.isExecutableFile(atPath: agentBinary) else {
    fatalError("no agent binary at \(agentBinary); build it with: swift build -c release --product edgemesh")
}
let idlePeers = CommandLine.arguments.dropFirst(2).first.flatMap { Int($0) } ?? 24
guard (1...200).contains(idlePeers) else { fatalError("idle peers must be 1...200, not \(idlePeers)") }

func progress(_ text: String) { Lab.progress(name, text) }

let lab = Lab(name: "emtunbench")
let mesh = MeshLab(lab: lab, agentBinary: agentBinary)
let nodeA = mesh.addNode("node-a", index: 1)
let nodeB = mesh.addNode("node-b", index: 2)
let echo = EchoProbe(lab: lab)
let echoPort = 7007
lab.start(["/usr/bin/iperf3", "-s", "-p", "5201"], in: nodeB.namespace, log: "iperf3.log")
echo.serve(port: echoPort, in: nodeB.namespace, lab: lab)
mesh.addService("iperf", clusterIP: "10.96.0.80", port: 5201, on: nodeB)
mesh.addService("echo", clusterIP: "10.96.0.81", port: echoPort, on: nodeB)
progress("lab \(lab.name) up")
lab.waitUntil("the echo server") { echo.measure(nodeB.address, port: echoPort, connections: 1, roundTrips: 1, in: nodeA.namespace) != nil }

/// What one path measured: throughput, the lazy set-up cost (first exchange on a cold path
/// minus the median first exchange on a warm one), and the median 64-byte round trip.
struct PathFigures {
    var throughput = Double.nan
    var handshake = Double.nan
    var roundTrip = Double.nan
}

/// Measures the path to `host` from node-a; the path must be cold (never used) on entry.
@MainActor func measure(_ label: String, iperfHost: String, echoHost: String) -> PathFigures {
    var figures = PathFigures()
    progress("\(label): cold and warm exchanges")
    guard let cold = echo.measure(echoHost, port: echoPort, connections: 1, roundTrips: 0, in: nodeA.namespace),
        let warm = echo.measure(echoHost, port: echoPort, connections: 20, roundTrips: 200, in: nodeA.namespace)
    else { lab.abort("\(label): the echo client failed through \(echoHost)") }
    figures.handshake = (cold.firstExchanges[0] - Measurements.median(warm.firstExchanges)) / 1000
    figures.roundTrip = warm.roundTrip
    progress("\(label): iperf3")
    figures.throughput = Measurements.iperf(iperfHost, seconds: 8, in: nodeA.namespace)
    return figures
}

// Plain TCP between the namespaces: the floor for round trips, the ceiling for throughput.
let plain = measure("plain TCP", iperfHost: nodeB.address, echoHost: nodeB.address)

// wireguard-go, configured but not yet handshaken: its first packet does the handshake.
let wireguard = WireGuardPair(lab: lab, namespaces: [nodeA.namespace, nodeB.namespace], underlay: [nodeA.address, nodeB.address])
let wireguardFigures = measure("wireguard-go", iperfHost: wireguard.address(1), echoHost: wireguard.address(1))
wireguard.stop(lab: lab)

// Learn both agents' keys, then restart them so the first stream meets a cold tunnel.
mesh.publishKeys(of: [nodeA, nodeB])
@MainActor func restartAgents() {
    for node in [nodeA, nodeB] { mesh.stopAgent(on: node) }
    for node in [nodeA, nodeB] { mesh.startAgent(on: node) }
    for node in [nodeA, nodeB] { lab.waitUntil("\(node.name)'s agent") { mesh.publicKey(of: node) != nil } }
    // The agent answers status before its first manifest load has installed interception.
    Thread.sleep(forTimeInterval: 2)
}
@MainActor func tunnelFigures(_ label: String, expecting expected: String) -> PathFigures {
    restartAgents()
    let figures = measure(label, iperfHost: "10.96.0.80", echoHost: "10.96.0.81")
    let path = mesh.path(from: nodeA, to: nodeB)
    guard path == expected else { lab.abort("\(label): node-a reached node-b \(path), not \(expected)") }
    return figures
}
let direct = tunnelFigures("tunnel direct", expecting: "direct")
mesh.block(nodeA, from: nodeB)
let relayed = tunnelFigures("tunnel relayed", expecting: "relayed")
mesh.allow(nodeA)

Measurements.report("plain_tcp_throughput", plain.throughput, "Gbit/s")
Measurements.report("wireguard_go_throughput", wireguardFigures.throughput, "Gbit/s", peer: ("plain", plain.throughput))
Measurements.report("tunnel_direct_throughput", direct.throughput, "Gbit/s", peer: ("wireguard_go", wireguardFigures.throughput))
Measurements.report("tunnel_relayed_throughput", relayed.throughput, "Gbit/s", peer: ("tunnel_direct", direct.throughput))
Measurements.report("wireguard_go_handshake", wireguardFigures.handshake, "ms")
Measurements.report("tunnel_direct_handshake", direct.handshake, "ms", peer: ("wireguard_go", wireguardFigures.handshake))
Measurements.report("tunnel_relayed_handshake", relayed.handshake, "ms", peer: ("wireguard_go", wireguardFigures.handshake))
Measurements.report("plain_tcp_round_trip", plain.roundTrip, "us")
for (label, figures) in [("wireguard_go", wireguardFigures), ("tunnel_direct", direct), ("tunnel_relayed", relayed)] {
    Measurements.report("\(label)_round_trip", figures.roundTrip, "us", peer: ("plain", plain.roundTrip))
    Measurements.report("\(label)_round_trip_overhead", figures.roundTrip - plain.roundTrip, "us")
}

// Resident memory per idle peer: a fresh node-b agent (the heap the bulk transfers freed would
// hide new allocations) with node-a connected (its first-connection allocations made), then
// `idlePeers` more agents each open one stream to node-b and stay idle.
progress("\(idlePeers) idle peers")
let peers = (0..<idlePeers).map { mesh.addNode("peer-\($0)", index: 10 + $0) }
mesh.publishKeys(of: peers)
restartAgents()
guard echo.measure("10.96.0.81", port: echoPort, connections: 1, roundTrips: 1, in: nodeA.namespace) != nil else {
    lab.abort("node-a no longer reaches node-b")
}
let agentB = mesh.agents[nodeB.name]!.processIdentifier
Thread.sleep(forTimeInterval: 1)
let before = Measurements.residentKilobytes(agentB)
for peer in peers {
    guard echo.measure("10.96.0.81", port: echoPort, connections: 1, roundTrips: 1, in: peer.namespace) != nil else {
        lab.abort("\(peer.name) does not reach node-b through the tunnel")
    }
}
Thread.sleep(forTimeInterval: 2)
let connected = peers.filter { mesh.path(from: $0, to: nodeB) != "down" }.count
let after = Measurements.residentKilobytes(agentB)
Measurements.report("tunnel_rss_per_idle_peer", (after - before) / Double(idlePeers), "KiB")
print("tunnel_idle_peers \(connected) connected of \(idlePeers) rss_before=\(Measurements.format(before / 1024)) MiB rss_after=\(Measurements.format(after / 1024)) MiB")
lab.tearDown()
