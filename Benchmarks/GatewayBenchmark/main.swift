// GatewayBenchmark: the agent's ingress gateway (an Istio Gateway and VirtualService, TLS ended
// at the gateway) against nginx as a reverse proxy and haproxy in HTTP mode, each with the same
// certificate, in front of the same backend, all inside one throw-away network namespace on this
// machine. Not a test: it prints figures.
//
//   swift build -c release --product edgemesh
//   swift run -c release GatewayBenchmark [path/to/edgemesh] [--only http1|http2|handshake]...
//                                          (root; scripts/bench-deps installs the peers and loads)
//
// Each line is `name value unit`; lines for the agent add each peer's figure and the agent's
// ratio to it. The loads: wrk for HTTP/1.1 over TLS (16 kept-alive connections), h2load for
// HTTP/2 over TLS (16 connections of 10 concurrent streams each), and wrk with a new TLS
// connection per request. Each proxy runs as its documentation recommends for the job: nginx
// with a worker per core and kept-alive upstream connections (`keepalive` + HTTP/1.1 upstream),
// haproxy with its default thread per core and connection reuse, the agent with its defaults.
import BenchmarkLab
import Foundation
#if canImport(Glibc)
import Glibc
#endif

Lab.require(root: "GatewayBenchmark",
            tools: ["/usr/sbin/ip", "/usr/bin/curl", "/usr/bin/wrk", "/usr/bin/h2load", "/usr/sbin/nginx", "/usr/sbin/haproxy",
                    "/usr/bin/openssl"],
            install: "scripts/bench-deps (wrk nghttp2-client nginx-light haproxy curl openssl)")
let (only, agentBinary) = Lab.arguments(benchmark: "GatewayBenchmark", parts: ["http1", "http2", "handshake"])
func measures(_ part: String) -> Bool { only.isEmpty || only.contains(part) }
func progress(_ text: String) { Lab.progress("GatewayBenchmark", text) }

let lab = Lab(name: "emgatewaybench")
let pod = "10.244.0.1"
let work = lab.work
let namespace = lab.addNamespace("ns")
func run(_ arguments: [String]) -> (status: Int32, output: String) { Lab.run(arguments, in: namespace) }
lab.addNodeNetwork(in: namespace, pod: pod)
// Every load opens connections from one address to another: with connections closed by the
// thousand, TIME-WAIT would otherwise exhaust the ports and slow each next tool's connect(2).
for setting in ["net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65000"] {
    Lab.run(["/usr/sbin/sysctl", "-qw", setting], in: namespace)
}

// MARK: The certificate, the backend and the three proxies

let key = work.appendingPathComponent("gateway.key").path
let certificate = work.appendingPathComponent("gateway.crt").path
Lab.run(["/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
         "-out", certificate, "-days", "2", "-subj", "/CN=bench.example.com", "-addext", "subjectAltName=DNS:bench.example.com"])
let certificateText = (try? String(contentsOfFile: certificate, encoding: .utf8)) ?? ""
let keyText = (try? String(contentsOfFile: key, encoding: .utf8)) ?? ""
guard !certificateText.isEmpty, !keyText.isEmpty else { lab.abort("openssl made no certificate") }
// haproxy reads the certificate and its key from one file.
let combined = lab.write(certificateText + keyText, "gateway.pem")

let www = work.appendingPathComponent("www")
try! FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
lab.write("hello\n", "www/index.html")
// The backend: one nginx worker serving a small file, the same for every path.
let backendConfig = lab.write("""
    master_process off; daemon off; pid \(work.path)/backend.pid; error_log \(work.path)/backend.log;
    worker_rlimit_nofile 19000;
    events { worker_connections 18000; }
    http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
      server { listen \(pod):8080 backlog=4096; root \(www.path); } }
    """, "backend.conf")

/// The ports each proxy serves TLS on.
struct Front { let name: String; let port: Int }
let fronts = [Front(name: "nginx", port: 9443), Front(name: "haproxy", port: 10443), Front(name: "agent", port: 8443)]

// nginx as its documentation describes a reverse proxy with kept-alive upstream connections:
// a worker per core, `keepalive` in the upstream block, HTTP/1.1 and an empty Connection header.
let nginxConfig = lab.write("""
    worker_processes auto; daemon off; pid \(work.path)/nginx.pid; error_log \(work.path)/nginx.log;
    worker_rlimit_nofile 19000;
    events { worker_connections 8000; }
    http {
      access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
      upstream backend { server \(pod):8080; keepalive 64; }
      server {
        listen 127.0.0.1:9443 ssl http2 backlog=4096;
        ssl_certificate \(certificate); ssl_certificate_key \(key);
        location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
      }
    }
    """, "nginx.conf")
// haproxy in HTTP mode, ALPN offering h2 and http/1.1; its threads default to one per core and
// server connections are reused (`http-reuse safe`, the default).
let haproxyConfig = lab.write("""
    global
      maxconn 9000
    defaults
      mode http
      timeout connect 5s
      timeout client 300s
      timeout server 300s
      timeout http-keep-alive 300s
    frontend tls
      bind 127.0.0.1:10443 ssl crt \(combined) alpn h2,http/1.1
      default_backend web
    backend web
      server backend \(pod):8080
    """, "haproxy.cfg")
func indented(_ text: String) -> String { text.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") }
lab.write("""
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: default}
    spec: {clusterIP: 10.96.0.71, ports: [{name: http, port: 80, targetPort: 8080}]}
    ---
    apiVersion: v1
    kind: Endpoints
    metadata: {name: web, namespace: default}
    subsets: [{addresses: [{ip: \(pod), nodeName: bench}], ports: [{name: http, port: 8080}]}]
    ---
    apiVersion: v1
    kind: Secret
    metadata: {name: bench-tls, namespace: default}
    type: kubernetes.io/tls
    stringData:
      tls.crt: |
    \(indented(certificateText))
      tls.key: |
    \(indented(keyText))
    ---
    apiVersion: networking.istio.io/v1beta1
    kind: Gateway
    metadata: {name: edge-gateway, namespace: default}
    spec:
      selector: {kubeedge: edgemesh-gateway}
      servers:
      - {port: {number: 8443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, credentialName: bench-tls}}
    ---
    apiVersion: networking.istio.io/v1beta1
    kind: VirtualService
    metadata: {name: web, namespace: default}
    spec:
      hosts: ["*"]
      gateways: [edge-gateway]
      http: [{route: [{destination: {host: web}}]}]
    """, "manifests/gateway.yaml")

_ = lab.start(["/usr/sbin/nginx", "-c", backendConfig], in: namespace)
let nginx = lab.start(["/usr/sbin/nginx", "-c", nginxConfig], in: namespace, log: "nginx-stderr.log")
let haproxy = lab.start(["/usr/sbin/haproxy", "-f", haproxyConfig], in: namespace, log: "haproxy.log")
let agent = lab.start(["/bin/sh", "-c", "ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn); exec \(agentBinary) agent "
    + "--node-name bench --manifests \(work.path)/manifests --state-dir \(work.path)/state --gateway"], in: namespace, log: "agent.log")
progress("lab \(namespace) up; waiting for the proxies")
for front in fronts {
    lab.waitUntil("\(front.name) on port \(front.port)") {
        run(["/usr/bin/curl", "-skf", "--max-time", "1", "https://127.0.0.1:\(front.port)/index.html"]).status == 0
    }
}

// MARK: Measurements

/// A proxy's CPU time so far (user + system), its worker processes included: nginx's master
/// forks a worker per core, and a worker's time reaches its parent only once it is reaped.
@MainActor func cpuSeconds(_ front: Front) -> Double {
    let root = (front.name == "nginx" ? nginx : front.name == "haproxy" ? haproxy : agent).processIdentifier
    var total = Measurements.cpuSeconds(root)
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for entry in entries {
        guard let pid = Int32(entry), pid != root else { continue }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        guard let end = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        if fields.count > 1, Int32(fields[1]) == root { total += Measurements.cpuSeconds(pid) }
    }
    return total
}

/// A load's requests/s and 99th percentile latency (ms).
typealias Load = (rps: Double, p99: Double)
/// How long each load runs.
let loadSeconds = 10.0

/// Measures every proxy under `load` and prints requests/s, p99 and CPU per 1,000 requests, the
/// agent's line with each peer's figure and the agent's ratio to it.
@MainActor func report(_ name: String, _ load: (Front) -> Load) {
    var figures: [String: (load: Load, cpu: Double)] = [:]
    for front in fronts {
        progress("\(name) via \(front.name)")
        let before = cpuSeconds(front)
        let result = load(front)
        let requests = result.rps * loadSeconds
        figures[front.name] = (result, (cpuSeconds(front) - before) / requests * 1000)
    }
    for (metric, unit, value) in [
        ("rps", "req/s", { (figure: (load: Load, cpu: Double)) in figure.load.rps }),
        ("p99", "ms", { $0.load.p99 }),
        ("cpu", "s/1000req", { $0.cpu }),
    ] {
        func format(_ number: Double) -> String { String(format: metric == "cpu" ? "%.4f" : "%.2f", number) }
        for peer in ["nginx", "haproxy"] { print("\(name)_\(metric)_\(peer) \(format(value(figures[peer]!))) \(unit)") }
        let agentValue = value(figures["agent"]!)
        let comparisons = ["nginx", "haproxy"].map { peer in
            "\(peer)=\(format(value(figures[peer]!))) \(peer)_ratio=\(String(format: "%.2f", agentValue / value(figures[peer]!)))"
        }
        print("\(name)_\(metric)_agent \(format(agentValue)) \(unit) \(comparisons.joined(separator: " "))")
    }
    fflush(nil)
}

func wrk(_ port: Int, newConnections: Bool) -> Load {
    var arguments = ["/usr/bin/wrk", "-t1", "-c16", "-d\(Int(loadSeconds))s", "--latency"]
    if newConnections { arguments += ["-H", "Connection: close"] }
    let output = run(arguments + ["https://127.0.0.1:\(port)/index.html"]).output
    let figures = Measurements.wrkFigures(output)
    if figures.rps.isNaN { progress("wrk on port \(port) printed: \(output)") }
    return figures
}

/// h2load over TLS (ALPN h2): its requests/s, and the 99th percentile of the per-request times
/// its log holds (h2load itself prints only mean and spread).
func h2load(_ port: Int) -> Load {
    let log = work.appendingPathComponent("h2load-\(port).log").path
    let output = run(["/usr/bin/h2load", "-t1", "-c16", "-m10", "-D", "\(Int(loadSeconds))", "--log-file", log,
                      "https://127.0.0.1:\(port)/index.html"]).output
    var rps = Double.nan
    for line in output.split(separator: "\n") where line.hasPrefix("finished in") {
        // "finished in 10.00s, 12345.60 req/s, 1.23MB/s"
        let fields = line.split(separator: " ")
        if let index = fields.firstIndex(of: "req/s,"), index > 0 { rps = Double(fields[index - 1]) ?? .nan }
    }
    // Each log line: start time (µs since the epoch), status, request time (µs).
    let times = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line -> Double? in
        let fields = line.split(separator: "\t")
        return fields.count == 3 && fields[1] == "200" ? Double(fields[2]) : nil
    }.sorted()
    let p99 = times.isEmpty ? Double.nan : times[min(times.count - 1, times.count * 99 / 100)] / 1000
    if rps.isNaN || times.isEmpty { progress("h2load on port \(port) printed: \(output)") }
    try? FileManager.default.removeItem(atPath: log)
    return (rps, p99)
}

if measures("http1") { report("https_http1_keepalive") { wrk($0.port, newConnections: false) } }
if measures("http2") { report("https_http2") { h2load($0.port) } }
if measures("handshake") { report("https_new_connection") { wrk($0.port, newConnections: true) } }
// nginx's workers outlive a master that is killed outright: a TERM makes it stop them first.
kill(nginx.processIdentifier, SIGTERM)
lab.waitUntil("nginx's workers to stop") {
    Lab.run(["/usr/bin/pgrep", "-P", "\(nginx.processIdentifier)"]).status != 0
}
lab.tearDown()
