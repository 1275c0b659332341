// SoakBenchmark: an agent mesh, a relay and an ingress gateway in network namespaces under a
// mixed legitimate load for a long time (10 minutes by default) while hostile clients run, to
// show that what the processes hold plateaus and the legitimate load keeps its success ratio.
//
//   node-a: agent; its pods' load: HTTP and UDP to cluster IPs (direct tunnel to node-b), DNS
//           over UDP and TCP at its agent, HTTP through the gateway; and one local pod that
//           pipelines DNS queries over TCP and never reads.
//   node-b: agent; the backends (HTTP on 8080, UDP echo on 9000).
//   node-c: agent, cut off from node-b, so its HTTP load is relayed.
//   gw:     agent with --gateway (an Istio Gateway on port 80 routing shop.example to the web).
//   relay:  edgemesh relay.
//   mallory: no agent: slow-loris on the gateway and the relay, half-open handshake floods on
//           the tunnel ports, garbage connections and datagrams on every port.
//
// Every 30 s it samples each process's resident memory and open descriptors; it reports them at
// the start (after the warm-up), the middle and the end, with the load's counts. Not a test.
//
//   swift build -c release --product edgemesh && swift build -c release --product SoakBenchmark
//   .build/release/SoakBenchmark [--minutes 10] [--edgemesh .build/release/edgemesh] [--no-hostile]   (root)
import BenchmarkLab
import Foundation

let name = "SoakBenchmark"
Lab.require(root: name, tools: ["/usr/sbin/ip", "/usr/sbin/nft", "/usr/bin/python3"],
            install: "apt-get install iproute2 nftables python3 python3-dnspython")
var minutes = 10.0
var agentBinary = ".build/release/edgemesh"
/// Without the hostile clients: the baseline the attacked run's success ratios are held to.
var hostileClients = true
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--minutes": minutes = arguments.next().flatMap(Double.init) ?? minutes
    case "--edgemesh": agentBinary = arguments.next() ?? agentBinary
    case "--no-hostile": hostileClients = false
    default: fatalError("unknown argument \(argument); usage: SoakBenchmark [--minutes M] [--edgemesh PATH] [--no-hostile]")
    }
}
guard FileManager.default.isExecutableFile(atPath: agentBinary) else {
    fatalError("no agent binary at \(agentBinary); build it with: swift build -c release --product edgemesh")
}
let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
func progress(_ text: String) { Lab.progress(name, text) }

let lab = Lab(name: "emsoak")
let mesh = MeshLab(lab: lab, agentBinary: agentBinary)
let nodeA = mesh.addNode("node-a", index: 1)
let nodeB = mesh.addNode("node-b", index: 2)
let nodeC = mesh.addNode("node-c", index: 3)
let gateway = mesh.addNode("gw", index: 4)
// On the LAN, but no agent runs there.
let mallory = mesh.addNode("mallory", index: 66)

// The backends and what the cluster says about them.
lab.start(["/usr/bin/python3", "-m", "http.server", "8080", "--bind", nodeB.address], in: nodeB.namespace, log: "web.log")
lab.start(["/usr/bin/python3", "-c", """
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("\(nodeB.address)", 9000))
    while True:
        data, peer = s.recvfrom(65536); s.sendto(data, peer)
    """], in: nodeB.namespace, log: "udp-echo.log")
mesh.addService("web", clusterIP: "10.96.10.1", port: 8080, on: nodeB)
lab.write("""
    apiVersion: v1
    kind: Service
    metadata: {name: echo, namespace: default}
    spec: {clusterIP: 10.96.10.2, ports: [{name: u, port: 9000, protocol: UDP}]}
    ---
    apiVersion: v1
    kind: Endpoints
    metadata: {name: echo, namespace: default}
    subsets: [{addresses: [{ip: \(nodeB.address), nodeName: node-b}], ports: [{name: u, port: 9000, protocol: UDP}]}]
    ---
    apiVersion: networking.istio.io/v1beta1
    kind: Gateway
    metadata: {name: edge, namespace: default}
    spec:
      selector: {kubeedge: edgemesh-gateway}
      servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [shop.example]}]
    ---
    apiVersion: networking.istio.io/v1beta1
    kind: VirtualService
    metadata: {name: shop, namespace: default}
    spec:
      hosts: [shop.example]
      gateways: [edge]
      http: [{route: [{destination: {host: web, port: {number: 8080}}}]}]
    """, "manifests/soak.yaml")
mesh.block(nodeC, from: nodeB)
mesh.startAgent(on: gateway, extra: ["--gateway", "--gateway-address", gateway.address])
mesh.publishKeys(of: [nodeA, nodeB, nodeC, gateway])
progress("lab \(lab.name) up; waiting for the paths")
lab.waitUntil("the web through node-a's cluster IP", seconds: 60) {
    Lab.run(["/usr/bin/curl", "-sf", "--max-time", "3", "http://10.96.10.1:8080/"], in: nodeA.namespace).status == 0
}
lab.waitUntil("the web through node-c's relayed path", seconds: 90) {
    Lab.run(["/usr/bin/curl", "-sf", "--max-time", "5", "http://10.96.10.1:8080/"], in: nodeC.namespace).status == 0
}
lab.waitUntil("the web through the gateway", seconds: 60) {
    Lab.run(["/usr/bin/curl", "-sf", "--max-time", "3", "-H", "Host: shop.example", "http://\(gateway.address)/"], in: nodeA.namespace).status == 0
}
progress("paths: node-a to node-b \(mesh.path(from: nodeA, to: nodeB)), node-c to node-b \(mesh.path(from: nodeC, to: nodeB))")

/// The processes watched, by role.
let watched: [(String, Int32)] = [
    ("agent node-a", mesh.agents["node-a"]!.processIdentifier), ("agent node-b", mesh.agents["node-b"]!.processIdentifier),
    ("agent node-c", mesh.agents["node-c"]!.processIdentifier), ("gateway", mesh.agents["gw"]!.processIdentifier),
    ("relay", mesh.relayProcess.processIdentifier),
]
func openDescriptors(_ pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
}
struct Sample {
    var minute: Double
    var residentMiB: [Double]
    var descriptors: [Int]
}
@MainActor func sample(at start: Date) -> Sample {
    Sample(
        minute: Date().timeIntervalSince(start) / 60,
        residentMiB: watched.map { Measurements.residentKilobytes($0.1) / 1024 }, descriptors: watched.map { openDescriptors($0.1) })
}

let seconds = Int(minutes * 60)
let load = { (node: MeshLab.Node, extra: [String]) -> Process in
    let log = "load-\(node.name).json"
    return lab.start(["/usr/bin/python3", scripts.appendingPathComponent("legit-load.py").path, "--seconds", "\(seconds)"] + extra,
                     in: node.namespace, log: log)
}
let start = Date()
var samples = [sample(at: start)]
let loads = [
    load(nodeA, ["--http", "10.96.10.1:8080", "--udp", "10.96.10.2:9000", "--dns", "127.0.0.1:5353", "--gateway", "\(gateway.address):80"]),
    load(nodeC, ["--http", "10.96.10.1:8080"]),
]
let hostile = !hostileClients ? nil : lab.start(
    ["/usr/bin/python3", scripts.appendingPathComponent("hostile.py").path, "--seconds", "\(seconds)",
     "--slowloris", "\(gateway.address):80", "--slowloris", "\(mesh.relay.address):\(MeshLab.relayPort)",
     "--handshake-flood", "\(nodeA.address):20006", "--handshake-flood", "\(nodeB.address):20006",
     "--garbage-tcp", "\(nodeA.address):20006", "--garbage-tcp", "\(gateway.address):80",
     "--garbage-tcp", "\(mesh.relay.address):\(MeshLab.relayPort)",
     "--garbage-udp", "\(nodeA.address):20006", "--garbage-udp", "\(nodeB.address):20006", "--garbage-udp", "\(gateway.address):20006"],
    in: mallory.namespace, log: "hostile-mallory.json")
let localPod = !hostileClients ? nil : lab.start(
    ["/usr/bin/python3", scripts.appendingPathComponent("hostile.py").path, "--seconds", "\(seconds)",
     "--dns-never-read", "127.0.0.1:5353", "--garbage-udp", "127.0.0.1:5353"],
    in: nodeA.namespace, log: "hostile-node-a.json")
progress("load and hostile clients running for \(seconds) s")
while Date().timeIntervalSince(start) < Double(seconds) {
    Thread.sleep(forTimeInterval: 30)
    samples.append(sample(at: start))
    let last = samples.last!
    progress(String(format: "minute %.1f: ", last.minute)
        + zip(watched, zip(last.residentMiB, last.descriptors)).map { "\($0.0) \(String(format: "%.1f", $1.0)) MiB \($1.1) fd" }.joined(separator: ", "))
}
for process in loads + [hostile, localPod].compactMap({ $0 }) { process.waitUntilExit() }

@MainActor func json(_ log: String) -> [String: Any] {
    let text = (try? String(contentsOf: lab.work.appendingPathComponent(log), encoding: .utf8)) ?? ""
    let line = text.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? "{}"
    return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
}

// The report: stdout holds only figures.
print("soak \(String(format: "%.1f", minutes)) min, \(samples.count) samples, \(hostileClients ? "with" : "without") hostile clients")
let marks = [samples[1 < samples.count ? 1 : 0], samples[samples.count / 2], samples[samples.count - 1]]
for (index, process) in watched.enumerated() {
    let resident = marks.map { String(format: "%.1f", $0.residentMiB[index]) }.joined(separator: " / ")
    let descriptors = marks.map { "\($0.descriptors[index])" }.joined(separator: " / ")
    let peak = samples.map { $0.residentMiB[index] }.max() ?? 0
    print("\(process.0): rss MiB start/middle/end \(resident) (peak \(String(format: "%.1f", peak))); fds \(descriptors)")
}
for node in [nodeA, nodeC] {
    for (kind, value) in json("load-\(node.name).json").sorted(by: { $0.key < $1.key }) {
        let counts = value as? [String: Any] ?? [:]
        let ok = counts["ok"] as? Int ?? 0, failed = counts["failed"] as? Int ?? 0
        let reasons = (counts["reasons"] as? [String: Int] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        print("legit \(node.name) \(kind): \(ok) ok, \(failed) failed, success \(String(format: "%.4f", Double(ok) / Double(max(1, ok + failed))))"
            + (reasons.isEmpty ? "" : " (\(reasons.joined(separator: ", ")))"))
    }
}
for log in ["hostile-mallory.json", "hostile-node-a.json"] {
    for (what, value) in json(log).sorted(by: { $0.key < $1.key }) { print("hostile \(what): \(value)") }
}
lab.tearDown()
