// PodNetworkBenchmark: pod to pod between two nodes in network namespaces, in one run: the
// edge CNI's datagram path (UDP, the default), its stream fallback (UDP to the tunnel port
// dropped), wireguard-go carrying the same pod networks, and a kernel VXLAN (unencrypted: the
// kernel's own limit for an overlay here). Each node has a pod namespace on a `cni0` bridge, as
// the bridge CNI plugin lays it out; iperf3 runs pod to pod by pod IP, 1 and 4 streams. CPU per
// GB is what the tunnel's processes spent (both agents, or both wireguard-go daemons) per GB
// received; the kernel's own work (VXLAN, and the TUN and UDP paths of all of them) is not in it.
// Not a test: it prints figures, `name value unit` with `peer=value ratio=x` where a peer was
// measured in the same run.
//
//   swift build -c release --product edgemesh
//   scripts/bench-deps   (wireguard-go, wireguard-tools, iperf3)
//   swift run -c release PodNetworkBenchmark [path/to/edgemesh] [--only datagram|stream|wireguard|vxlan]...   (root)
import BenchmarkLab
import Foundation

let name = "PodNetworkBenchmark"
Lab.require(root: name, tools: ["/usr/sbin/ip", "/usr/sbin/nft", "/usr/bin/iperf3", "/usr/bin/wireguard-go", "/usr/bin/wg"],
            install: "scripts/bench-deps, or apt-get install iperf3 nftables wireguard-go wireguard-tools")
let (only, agentBinary) = Lab.arguments(benchmark: name, parts: ["datagram", "stream", "wireguard", "vxlan"])
func wanted(_ part: String) -> Bool { only.isEmpty || only.contains(part) }
func progress(_ text: String) { Lab.progress(name, text) }

let lab = Lab(name: "empodbench")
let mesh = MeshLab(lab: lab, agentBinary: agentBinary)
let nodes = [mesh.addNode("node-a", index: 1), mesh.addNode("node-b", index: 2)]
let podNetworks = ["10.244.1.0/24", "10.244.2.0/24"]
let podAddresses = ["10.244.1.2", "10.244.2.2"]
let podGateways = ["10.244.1.1", "10.244.2.1"]

/// A pod namespace on a `cni0` bridge in its node, gateway `.1`, MTU 1400 (the tunnel's), with
/// forwarding on in the node: what the bridge plugin and the agent's CNI configuration make.
@MainActor func addPod(_ index: Int) -> String {
    let node = nodes[index].namespace
    let pod = lab.addNamespace("pod-\(index)")
    let gateway = podGateways[index]
    for command in [
        ["-n", node, "link", "add", "cni0", "type", "bridge"], ["-n", node, "addr", "add", "\(gateway)/24", "dev", "cni0"],
        ["-n", node, "link", "set", "cni0", "up"],
        ["link", "add", "veth\(index)", "netns", node, "type", "veth", "peer", "name", "eth0", "netns", pod],
        ["-n", node, "link", "set", "veth\(index)", "master", "cni0", "up"],
        ["-n", pod, "addr", "add", "\(podAddresses[index])/24", "dev", "eth0"], ["-n", pod, "link", "set", "eth0", "mtu", "1400", "up"],
        ["-n", pod, "route", "add", "default", "via", gateway],
    ] {
        Lab.run(["/usr/sbin/ip"] + command)
    }
    Lab.run(["/usr/sbin/sysctl", "-qw", "net.ipv4.ip_forward=1"], in: node)
    return pod
}
let pods = [addPod(0), addPod(1)]
lab.start(["/usr/bin/iperf3", "-s", "-p", "5201"], in: pods[1], log: "iperf3.log")
progress("lab \(lab.name) up")

/// Throughput pod to pod with 1 and 4 streams, and the CPU seconds `processes` spent per GB.
struct PathFigures {
    var single = Double.nan
    var four = Double.nan
    var cpuPerGigabyte = Double.nan
}

@MainActor func measure(_ label: String, processes: [Int32]) -> PathFigures {
    var figures = PathFigures()
    progress("\(label): iperf3, 1 stream")
    let seconds = 8
    let before = processes.map(Measurements.cpuSeconds).reduce(0, +)
    figures.single = Measurements.iperf(podAddresses[1], seconds: seconds, in: pods[0])
    progress("\(label): iperf3, 4 streams")
    figures.four = Measurements.iperf(podAddresses[1], streams: 4, seconds: seconds, in: pods[0])
    let spent = processes.map(Measurements.cpuSeconds).reduce(0, +) - before
    // Gbit/s × seconds / 8 = GB moved in the two runs.
    let gigabytes = (figures.single + figures.four) * Double(seconds) / 8
    if !processes.isEmpty { figures.cpuPerGigabyte = spent / gigabytes }
    return figures
}

@MainActor func routePods(via device: String?, gateway: String? = nil) {
    for index in 0..<2 {
        let other = 1 - index
        var command = ["-n", nodes[index].namespace, "route", "replace", podNetworks[other]]
        if let gateway { command += ["via", gateway.replacingOccurrences(of: "X", with: "\(other + 1)")] }
        if let device { command += ["dev", device] }
        Lab.run(["/usr/sbin/ip"] + command)
    }
}

var results: [String: PathFigures] = [:]

if wanted("vxlan") {
    // The kernel's overlay: a VXLAN device in each node with the other as its remote.
    for index in 0..<2 {
        Lab.run(["/usr/sbin/ip", "-n", nodes[index].namespace, "link", "add", "vx0", "type", "vxlan", "id", "42",
                 "remote", nodes[1 - index].address, "dstport", "4789", "dev", "eth0"])
        Lab.run(["/usr/sbin/ip", "-n", nodes[index].namespace, "addr", "add", "10.79.0.\(index + 1)/24", "dev", "vx0"])
        Lab.run(["/usr/sbin/ip", "-n", nodes[index].namespace, "link", "set", "vx0", "mtu", "1450", "up"])
    }
    routePods(via: "vx0", gateway: "10.79.0.X")
    results["vxlan"] = measure("vxlan", processes: [])
    for index in 0..<2 { Lab.run(["/usr/sbin/ip", "-n", nodes[index].namespace, "link", "del", "vx0"]) }
}

if wanted("wireguard") {
    let wireguard = WireGuardPair(
        lab: lab, namespaces: nodes.map(\.namespace), underlay: nodes.map(\.address), routed: podNetworks.map { [$0] })
    for index in 0..<2 {
        Lab.run(["/usr/sbin/ip", "-n", nodes[index].namespace, "route", "replace", podNetworks[1 - index], "dev", wireguard.interfaces[index]])
    }
    results["wireguard"] = measure("wireguard-go", processes: wireguard.daemons.map(\.processIdentifier))
    wireguard.stop(lab: lab)
}

if wanted("datagram") || wanted("stream") {
    for index in 0..<2 { Lab.run(["/usr/sbin/ip", "-n", nodes[index].namespace, "route", "del", podNetworks[1 - index]]) }
    let cidrs = Dictionary(uniqueKeysWithValues: zip(nodes.map(\.name), podNetworks))
    for node in nodes { mesh.startAgent(on: node, extra: ["--edge-cni", "--cni-conf-dir", ""]) }
    mesh.publishKeys(of: nodes, podCIDRs: cidrs)
    lab.waitUntil("the agents' pod routes", seconds: 60) {
        Lab.run(["/usr/sbin/ip", "-n", nodes[0].namespace, "route", "show", podNetworks[1]]).output.contains("edgemesh-pod0")
    }
    let agents = nodes.map { mesh.agents[$0.name]!.processIdentifier }
    @MainActor func via() -> String {
        let peers = mesh.tunnelStatus(of: nodes[0])?["peers"] as? [[String: Any]] ?? []
        return (peers.first?["datagramEndpoint"] as? String).map { "udp \($0)" } ?? "stream"
    }
    if wanted("datagram") {
        lab.waitUntil("the datagram path", seconds: 30) {
            _ = Lab.run(["/usr/bin/iperf3", "-c", podAddresses[1], "-t", "1"], in: pods[0])
            return via().hasPrefix("udp")
        }
        results["datagram"] = measure("edge CNI, datagrams", processes: agents)
        guard via().hasPrefix("udp") else { lab.abort("the datagram path went down during the run: \(via())") }
    }
    if wanted("stream") {
        // UDP to the tunnel port dropped both ways: the datagram path gives up, packets ride the stream.
        let rules = lab.write("""
            table ip benchudp {
                chain input { type filter hook input priority 0; udp dport 20006 drop; }
                chain output { type filter hook output priority 0; udp dport 20006 drop; }
            }
            """, "block-udp.nft")
        for node in nodes { Lab.run(["/usr/sbin/nft", "-f", rules], in: node.namespace) }
        lab.waitUntil("the stream fallback", seconds: 60) { via() == "stream" }
        results["stream"] = measure("edge CNI, stream", processes: agents)
    }
}

let datagram = results["datagram"], stream = results["stream"], wireguard = results["wireguard"], vxlan = results["vxlan"]
func figures(_ label: String, _ value: PathFigures?, against peer: (String, PathFigures)?) {
    guard let value else { return }
    Measurements.report("\(label)_throughput_1_stream", value.single, "Gbit/s", peer: peer.map { ($0.0, $0.1.single) })
    Measurements.report("\(label)_throughput_4_streams", value.four, "Gbit/s", peer: peer.map { ($0.0, $0.1.four) })
    if !value.cpuPerGigabyte.isNaN {
        let peerCPU = peer.flatMap { $0.1.cpuPerGigabyte.isNaN ? nil : ($0.0, $0.1.cpuPerGigabyte) }
        Measurements.report("\(label)_cpu_per_gb", value.cpuPerGigabyte, "s", peer: peerCPU)
    }
}
figures("vxlan", vxlan, against: nil)
figures("wireguard_go", wireguard, against: vxlan.map { ("vxlan", $0) })
figures("edgecni_datagram", datagram, against: wireguard.map { ("wireguard_go", $0) })
figures("edgecni_datagram_vs_vxlan", datagram, against: vxlan.map { ("vxlan", $0) })
figures("edgecni_stream", stream, against: datagram.map { ("edgecni_datagram", $0) })
lab.tearDown()
