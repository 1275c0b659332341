// ProxyBenchmark: the agent's user-space proxy against the direct path, haproxy (TCP mode) as
// installed and as its documentation tunes it for this job (a thread per core, `splice-auto`,
// 64 KiB buffers), and kube-proxy-style nftables DNAT written by hand (the kernel's own figure),
// all inside one throw-away network namespace on this machine. Not a test: it prints figures.
//
//   swift build -c release --product edgemesh
//   swift run ProxyBenchmark [path/to/edgemesh] [--only bulk|transfer|http|hash|scale|memory]...
//                                                 (root; iperf3, curl, wrk, nginx, haproxy, python3)
//
// Each line is `name value unit`; lines for the agent add `<path>=… <path>_ratio=…` for every other path.
import BenchmarkLab
import Foundation
#if canImport(Glibc)
import Glibc
#endif

Lab.require(root: "ProxyBenchmark",
            tools: ["/usr/sbin/ip", "/usr/sbin/nft", "/usr/bin/iperf3", "/usr/bin/curl", "/usr/bin/wrk", "/usr/sbin/nginx", "/usr/sbin/haproxy",
                    "/usr/bin/python3"],
            install: "apt-get install nftables iperf3 curl wrk nginx-light haproxy python3")
let (only, agentBinary) = Lab.arguments(
    benchmark: "ProxyBenchmark", parts: ["bulk", "transfer", "http", "hash", "scale", "memory"])
func measures(_ part: String) -> Bool { only.isEmpty || only.contains(part) }

let lab = Lab(name: "emproxybench")
let pod = "10.244.0.1"
let work = lab.work

func progress(_ text: String) { Lab.progress("ProxyBenchmark", text) }
// MARK: The lab

let namespace = lab.addNamespace("ns")
func run(_ arguments: [String]) -> (status: Int32, output: String) { Lab.run(arguments, in: namespace) }
@MainActor func start(_ arguments: [String], log: String? = nil) -> Process { lab.start(arguments, in: namespace, log: log) }
lab.addNodeNetwork(in: namespace, pod: pod)
let www = work.appendingPathComponent("www")
try! FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
try! Data(count: 4 * 1024 * 1024).write(to: www.appendingPathComponent("4mb.bin"))
lab.write("hello\n", "www/index.html")
let nginxConfig = lab.write("""
    master_process off; daemon off; pid \(work.path)/nginx.pid; error_log \(work.path)/nginx.log;
    worker_rlimit_nofile 19000;
    events { worker_connections 18000; }
    http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s; client_header_timeout 300s;
      server { listen \(pod):8080 backlog=4096; root \(www.path); } }
    """, "nginx.conf")
let haproxyConfig = lab.write("""
    global
      maxconn 9000
    defaults
      mode tcp
      timeout connect 5s
      timeout client 300s
      timeout server 300s
    listen iperf
      bind \(pod):6201
      server backend \(pod):5201
    listen web
      bind \(pod):6080
      server backend \(pod):8080
    listen web-hashed
      bind \(pod):6081
      mode http
      balance hdr(x-user)
      hash-type consistent
      server backend \(pod):8080
    """, "haproxy.cfg")
// The same proxy as haproxy's documentation tunes it for moving bytes: a thread per core,
// kernel splicing where it pays (`option splice-auto`), larger buffers. Fewer connections than
// the other: splicing holds a pipe (two descriptors) per four, within a 20,000-descriptor limit.
let tunedHAProxyConfig = lab.write("""
    global
      maxconn 7000
      nbthread \(ProcessInfo.processInfo.activeProcessorCount)
      tune.bufsize 65536
    defaults
      mode tcp
      option splice-auto
      timeout connect 5s
      timeout client 300s
      timeout server 300s
    listen iperf
      bind \(pod):7201
      server backend \(pod):5201
    listen web
      bind \(pod):7080
      server backend \(pod):8080
    listen web-hashed
      bind \(pod):7081
      mode http
      balance hdr(x-user)
      hash-type consistent
      server backend \(pod):8080
    """, "haproxy-tuned.cfg")
lab.write("""
    apiVersion: v1
    kind: Service
    metadata: {name: iperf, namespace: default}
    spec: {clusterIP: 10.96.0.70, ports: [{name: p, port: 5201}]}
    ---
    apiVersion: v1
    kind: Endpoints
    metadata: {name: iperf, namespace: default}
    subsets: [{addresses: [{ip: \(pod), nodeName: bench}], ports: [{name: p, port: 5201}]}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: default}
    spec: {clusterIP: 10.96.0.71, ports: [{name: p, port: 80, targetPort: 8080}]}
    ---
    apiVersion: v1
    kind: Endpoints
    metadata: {name: web, namespace: default}
    subsets: [{addresses: [{ip: \(pod), nodeName: bench}], ports: [{name: p, port: 8080}]}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web-hashed, namespace: default}
    spec: {clusterIP: 10.96.0.72, ports: [{name: p, port: 80, targetPort: 8080}]}
    ---
    apiVersion: v1
    kind: Endpoints
    metadata: {name: web-hashed, namespace: default}
    subsets: [{addresses: [{ip: \(pod), nodeName: bench}], ports: [{name: p, port: 8080}]}]
    ---
    apiVersion: networking.istio.io/v1beta1
    kind: DestinationRule
    metadata: {name: web-hashed, namespace: default}
    spec: {host: web-hashed, trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}}
    """, "manifests/services.yaml")

_ = start(["/usr/bin/iperf3", "-s", "-B", pod, "-p", "5201"])
_ = start(["/usr/sbin/nginx", "-c", nginxConfig])
let haproxy = start(["/usr/sbin/haproxy", "-f", haproxyConfig])
let tunedHAProxy = start(["/usr/sbin/haproxy", "-f", tunedHAProxyConfig], log: "haproxy-tuned.log")
// Kernel DNAT as kube-proxy's nftables mode writes it (numgen over the endpoints, here one),
// for addresses of its own: no process on the path at all.
let dnatRules = lab.write("""
    table ip benchdnat {
      chain output {
        type nat hook output priority -100;
        ip daddr 10.96.1.70 tcp dport 5201 dnat to numgen inc mod 1 map { 0 : \(pod) } : 5201
        ip daddr 10.96.1.71 tcp dport 80 dnat to numgen inc mod 1 map { 0 : \(pod) } : 8080
      }
    }
    """, "dnat.nft")
precondition(run(["/usr/sbin/nft", "-f", dnatRules]).status == 0, "nft could not load the hand-written DNAT rules")
let agent = start(["/bin/sh", "-c", "ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn); exec \(agentBinary) agent --node-name bench --manifests "
    + "\(work.path)/manifests --state-dir \(work.path)/state"])
progress("lab \(namespace) up; waiting for the agent")
lab.waitUntil("the agent to proxy") { run(["/usr/bin/curl", "-sf", "--max-time", "1", "http://10.96.0.71/index.html"]).status == 0 }
lab.waitUntil("haproxy") { run(["/usr/bin/curl", "-sf", "--max-time", "1", "http://\(pod):6080/index.html"]).status == 0 }
lab.waitUntil("tuned haproxy") { run(["/usr/bin/curl", "-sf", "--max-time", "1", "http://\(pod):7080/index.html"]).status == 0 }

// MARK: Measurements

/// One way to the backends. `hashedHTTP` balances each request on its `x-user` header: the
/// agent through a DestinationRule, haproxy in HTTP mode with `balance hdr(x-user)`.
struct Path {
    let name: String, iperf: String, http: String, hashedHTTP: String
}
let paths = [
    Path(name: "direct", iperf: "\(pod):5201", http: "\(pod):8080", hashedHTTP: "\(pod):8080"),
    Path(name: "haproxy", iperf: "\(pod):6201", http: "\(pod):6080", hashedHTTP: "\(pod):6081"),
    Path(name: "haproxy_tuned", iperf: "\(pod):7201", http: "\(pod):7080", hashedHTTP: "\(pod):7081"),
    // Hashing on a header needs the request parsed: no kernel rule does that, so nginx itself.
    Path(name: "kernel_dnat", iperf: "10.96.1.70:5201", http: "10.96.1.71:80", hashedHTTP: "\(pod):8080"),
    Path(name: "agent", iperf: "10.96.0.70:5201", http: "10.96.0.71:80", hashedHTTP: "10.96.0.72:80"),
]

/// The proxy process behind a path (none for the direct path).
@MainActor func proxyProcess(_ path: Path) -> Process? {
    switch path.name {
    case "agent": agent
    case "haproxy": haproxy
    case "haproxy_tuned": tunedHAProxy
    default: nil
    }
}

/// Measures every path and prints the three lines; ratios are agent ÷ peer (for throughput,
/// the share of the peer's figure reached; for times, how many times the peer's it took).
/// With `work` (the units of work a figure stands for), also prints the CPU the agent and
/// haproxy spent per unit: a figure the machine's other load disturbs far less than speed.
@MainActor func report(
    _ name: String, _ unit: String, work: (unit: String, amount: (Double) -> Double)? = nil, _ measure: (Path) -> Double
) {
    var figures: [String: Double] = [:]
    var cpu: [String: Double] = [:]
    for path in paths {
        progress("\(name) via \(path.name)")
        let process = proxyProcess(path)
        let before = process.map { Measurements.cpuSeconds($0.processIdentifier) }
        figures[path.name] = measure(path)
        if let process, let before, let work {
            cpu[path.name] = (Measurements.cpuSeconds(process.processIdentifier) - before) / work.amount(figures[path.name]!)
        }
    }
    func compared(_ values: [String: Double], format: String) -> String {
        paths.filter { $0.name != "agent" && values[$0.name] != nil }.map { peer in
            let value = values[peer.name]!
            return "\(peer.name)=\(String(format: format, value)) \(peer.name)_ratio=\(String(format: "%.2f", values["agent"]! / value))"
        }.joined(separator: " ")
    }
    if let work, cpu["agent"] != nil {
        for path in paths where path.name != "agent" {
            if let spent = cpu[path.name] { print("\(name)_cpu_\(path.name) \(String(format: "%.3f", spent)) s/\(work.unit)") }
        }
        print("\(name)_cpu_agent \(String(format: "%.3f", cpu["agent"]!)) s/\(work.unit) \(compared(cpu, format: "%.3f"))")
    }
    for path in paths where path.name != "agent" {
        print("\(name)_\(path.name) \(String(format: "%.2f", figures[path.name]!)) \(unit)")
    }
    print("\(name)_agent \(String(format: "%.2f", figures["agent"]!)) \(unit) \(compared(figures, format: "%.2f"))")
    fflush(nil)
}

func iperf(_ target: String, streams: Int) -> Double {
    let parts = target.split(separator: ":")
    return Measurements.iperf(String(parts[0]), port: Int(parts[1])!, streams: streams, in: namespace)
}

/// wrk's requests/s and 99th percentile latency (ms).
func wrk(_ target: String, newConnections: Bool, header: String? = nil) -> (rps: Double, p99: Double) {
    var arguments = ["/usr/bin/wrk", "-t1", "-c16", "-d5s", "--latency"]
    if newConnections { arguments += ["-H", "Connection: close"] }
    if let header { arguments += ["-H", header] }
    return Measurements.wrkFigures(run(arguments + ["http://\(target)/index.html"]).output)
}

// iperf3 runs 5 s: Gbit/s × 5 / 8 is the GB carried.
let gigabytes = (unit: "GB", amount: { (gbps: Double) in gbps * 5 / 8 })
if measures("bulk") {
    report("iperf3_1_stream", "Gbit/s", work: gigabytes) { iperf($0.iperf, streams: 1) }
    report("iperf3_8_streams", "Gbit/s", work: gigabytes) { iperf($0.iperf, streams: 8) }
}
if measures("transfer") {
    report("transfer_4mb_median", "ms") { path in
        Measurements.median((0..<21).map { _ in
            1000 * (Double(run(["/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{time_total}", "http://\(path.http)/4mb.bin"])
                .output) ?? .nan)
        })
    }
}
var latency: [String: (rps: Double, p99: Double)] = [:]
// wrk runs 5 s: req/s × 5 / 1000 is the thousands of requests served.
let thousandRequests = (unit: "1000req", amount: { (rps: Double) in rps * 5 / 1000 })
if measures("http") {
    report("http_keepalive_rps", "req/s", work: thousandRequests) { path in
        let figures = wrk(path.http, newConnections: false)
        latency[path.name] = figures
        return figures.rps
    }
    report("http_keepalive_p99", "ms") { latency[$0.name]!.p99 }
    report("http_new_connection_rps", "req/s", work: thousandRequests) { path in
        let figures = wrk(path.http, newConnections: true)
        latency[path.name] = figures
        return figures.rps
    }
    report("http_new_connection_p99", "ms") { latency[$0.name]!.p99 }
}
// Keep-alive requests balanced one by one on a header: the agent parses every request here,
// so its peer is haproxy in HTTP mode; "direct" is nginx itself.
if measures("hash") {
    report("http_header_hash_rps", "req/s", work: thousandRequests) { path in
        let figures = wrk(path.hashedHTTP, newConnections: false, header: "x-user: alice")
        latency[path.name] = figures
        return figures.rps
    }
    report("http_header_hash_p99", "ms") { latency[$0.name]!.p99 }
}

// What the interception rules cost as the cluster grows: new connections straight to nginx
// (traffic of the node that is for no service) and through a service, with the lab's 3 services,
// then with 1,000 more of two ports each in the agent's table.
if measures("scale") {
    let manyServices = (0..<1000).map { index in
        let address = "10.97.\(index / 250).\(index % 250 + 1)"
        return """
            {apiVersion: v1, kind: Service, metadata: {name: scale-\(index), namespace: default},
             spec: {clusterIP: \(address), ports: [{name: http, port: 80, targetPort: 8080}, {name: grpc, port: 9000}]}}
            ---
            {apiVersion: v1, kind: Endpoints, metadata: {name: scale-\(index), namespace: default},
             subsets: [{addresses: [{ip: \(pod), nodeName: bench}], ports: [{name: http, port: 8080}, {name: grpc, port: 9000}]}]}
            """
    }
    let lastService = "10.97.3.250:80"
    progress("interception scale with 3 services")
    let few = (other: wrk("\(pod):8080", newConnections: true), service: wrk("10.96.0.71:80", newConnections: true))
    lab.write(manyServices.joined(separator: "\n---\n"), "manifests/scale.yaml")
    lab.waitUntil("the agent to proxy 1,000 more services", seconds: 60) {
        run(["/usr/bin/curl", "-sf", "--max-time", "1", "http://\(lastService)/index.html"]).status == 0
    }
    // Past the snapshot write (a second after the change) and the heap trim (3 s): work the
    // agent does once per table change, which would otherwise compete with wrk for the cores.
    Thread.sleep(forTimeInterval: 4)
    progress("interception scale with 1,003 services")
    let many = (other: wrk("\(pod):8080", newConnections: true), service: wrk(lastService, newConnections: true))
    for (name, small, large) in [("other_traffic", few.other, many.other), ("service", few.service, many.service)] {
        print("interception_\(name)_new_connection_rps \(String(format: "%.0f", large.rps)) req/s with_1003_services "
            + "with_3_services=\(String(format: "%.0f", small.rps)) ratio=\(String(format: "%.2f", large.rps / small.rps))")
        print("interception_\(name)_new_connection_p99 \(String(format: "%.2f", large.p99)) ms with_1003_services "
            + "with_3_services=\(String(format: "%.2f", small.p99)) ratio=\(String(format: "%.2f", large.p99 / small.p99))")
    }
    fflush(nil)
    // Back to the lab's 3 services, and past the agent's heap trim (3 s after a table change), so
    // that the memory part starts from the same agent whether or not this part ran.
    try? FileManager.default.removeItem(atPath: work.appendingPathComponent("manifests/scale.yaml").path)
    lab.waitUntil("the agent to drop the 1,000 services") {
        run(["/usr/bin/curl", "-sf", "--max-time", "0.5", "http://\(lastService)/index.html"]).status != 0
    }
    Thread.sleep(forTimeInterval: 4)
}

if measures("memory") {
    // Resident memory of the agent per 10,000 idle proxied connections. Each one costs the agent
    // two descriptors, so on a machine whose hard limit is 20,000 fewer are opened and the figure
    // is scaled.
    let hardLimit = Int(Lab.run(["/bin/sh", "-c", "ulimit -Hn"]).output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 1024
    let idleConnections = min(10_000, (hardLimit - 1000) / 2)
    let idleClient = lab.write("""
        import resource, socket, sys, time
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        sockets = []
        for _ in range(\(idleConnections)):
            s = socket.create_connection(("10.96.0.71", 80))
            sockets.append(s)
        print("ready", flush=True)
        time.sleep(20)
        """, "idle.py")
    let before = Measurements.residentKilobytes(agent.processIdentifier)
    let ready = lab.work.appendingPathComponent("idle-ready").path
    lab.start(["/bin/sh", "-c", "/usr/bin/python3 \(idleClient) > \(ready)"], in: namespace)
    lab.waitUntil("the idle connections", seconds: 120) { (try? String(contentsOfFile: ready, encoding: .utf8))?.contains("ready") ?? false }
    Thread.sleep(forTimeInterval: 2)
    let after = Measurements.residentKilobytes(agent.processIdentifier)
    let perTenThousand = (after - before) / 1024 * 10_000 / Double(idleConnections)
    print("agent_rss_per_10000_idle_connections \(String(format: "%.1f", perTenThousand)) MB connections=\(idleConnections) "
        + "before=\(String(format: "%.1f", before / 1024)) after=\(String(format: "%.1f", after / 1024))")
}
lab.tearDown()
