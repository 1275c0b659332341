import Foundation

// Queries/s and latency of the agent's DNS against dnsmasq and unbound serving the same
// 1,000 A records on loopback, measured by dnsperf one server after the other; then the
// agent's resident memory with 1,000 services and 10,000 endpoints loaded, and with none.
//
//   scripts/bench-deps && swift build -c release --product edgemesh && swift build -c release --product DNSBenchmark
//   .build/release/DNSBenchmark [--seconds 10] [--rounds 3] [--edgemesh .build/release/edgemesh] [--memory-only]
//
// `--memory-only` starts only the agent (no dnsperf, dnsmasq or unbound) and reports its memory.
//
// The servers take turns, `--rounds` times, `--seconds` each, so load from elsewhere on the
// machine falls on all of them alike; queries/s is the median round, latencies are pooled.
//
// Each line: `name value unit peer=value ratio=x` (ratio = agent / peer).

func argument(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

/// Every server started, so that a failure stops them before exiting (exit skips `defer`).
nonisolated(unsafe) var started: [ServerProcess] = []

func fail(_ message: String) -> Never {
    for server in started { server.stop() }
    FileHandle.standardError.write(Data("DNSBenchmark: \(message)\n".utf8))
    exit(1)
}

func tool(_ name: String) -> String {
    for directory in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"] where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
        return "\(directory)/\(name)"
    }
    fail("\(name) is not installed; run scripts/bench-deps")
}

/// Runs a command to completion, returning its standard output (through a file). Spawned and
/// reaped with posix_spawn/waitpid rather than Foundation's Process, whose exit monitoring was
/// seen here to miss the exit of a short-lived child while long-lived ones were running.
func capture(_ executable: String, _ arguments: [String]) -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("edgemesh-dnsbench-out-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
    guard spawned == 0 else { fail("cannot run \(executable): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
}

/// Waits (at most 60 s) until dig's output for `name` A from `server` contains `expected`.
func awaitAnswer(_ server: ServerProcess, name: String, containing expected: String, dig: String) {
    progress("waiting for \(server.name) on 127.0.0.1:\(server.port)")
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline {
        guard server.isRunning else { fail("\(server.name) exited at start-up") }
        let answer = capture(dig, ["@127.0.0.1", "-p", String(server.port), "+time=1", "+tries=1", name, "A"])
        if answer.contains(expected) { return }
        Thread.sleep(forTimeInterval: 0.2)
    }
    fail("\(server.name) did not answer within 60 s")
}

/// An agent serving the manifests in `directory` on 127.0.0.1:`port`.
func startAgent(_ name: String, port: Int, manifests directory: URL, state: URL) throws -> ServerProcess {
    try ServerProcess(name: name, port: port, executable: edgemesh, arguments: [
        "agent", "--node-name", "bench", "--manifests", directory.path, "--listen-ip", "127.0.0.1",
        "--dns-port", String(port), "--state-dir", state.path, "--upstream-dns", "127.0.0.1:9",
    ])
}

func progress(_ message: String) {
    FileHandle.standardError.write(Data("DNSBenchmark: \(message)\n".utf8))
}

func measure(_ server: ServerProcess, queryFile: String, seconds: Int, dnsperf: String) -> DNSPerfResult {
    progress("dnsperf against \(server.name) for \(seconds) s")
    // 100 queries in flight from one client socket; -v gives per-response latencies.
    let cpuBefore = server.cpuSeconds
    let output = capture(dnsperf, [
        "-s", "127.0.0.1", "-p", String(server.port), "-d", queryFile, "-l", String(seconds), "-c", "1", "-q", "100", "-v",
    ])
    var result = DNSPerfResult(parsing: output)
    result.serverCPUSeconds = server.cpuSeconds - cpuBefore
    guard result.completed > 0 else { fail("dnsperf got no answers from \(server.name)") }
    return result
}

func report(_ name: String, _ value: Double, _ unit: String, peer: Double? = nil) {
    var line = "\(name) \(String(format: "%.3f", value)) \(unit)"
    if let peer { line += " peer=\(String(format: "%.3f", peer)) ratio=\(String(format: "%.3f", peer == 0 ? 0 : value / peer))" }
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

let memoryOnly = CommandLine.arguments.contains("--memory-only")
let seconds = Int(argument("--seconds") ?? "10") ?? 10
let rounds = max(1, Int(argument("--rounds") ?? "3") ?? 3)
let edgemesh = argument("--edgemesh")
    ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("edgemesh").path
guard FileManager.default.isExecutableFile(atPath: edgemesh) else { fail("no edgemesh binary at \(edgemesh); pass --edgemesh PATH") }
let dig = tool("dig")

let records = BenchmarkRecords(services: 1_000, endpointsPerService: 10)
let work = FileManager.default.temporaryDirectory.appendingPathComponent("edgemesh-dnsbench-\(getpid())")
let manifests = work.appendingPathComponent("manifests")
try FileManager.default.createDirectory(at: manifests, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: work) }
try records.manifests.write(to: manifests.appendingPathComponent("services.yaml"), atomically: true, encoding: .utf8)
let queryFile = work.appendingPathComponent("queries.txt").path
try records.queryFile.write(toFile: queryFile, atomically: true, encoding: .utf8)

/// dnsmasq and unbound serving the same records (none with `--memory-only`).
func startPeers() throws -> [ServerProcess] {
    guard !memoryOnly else { return [] }
    let dnsmasqConf = work.appendingPathComponent("dnsmasq.conf").path
    try records.dnsmasqConfiguration(port: 15_354).write(toFile: dnsmasqConf, atomically: true, encoding: .utf8)
    let unboundConf = work.appendingPathComponent("unbound.conf").path
    try records.unboundConfiguration(port: 15_355).write(toFile: unboundConf, atomically: true, encoding: .utf8)
    return [
        try ServerProcess(name: "dnsmasq", port: 15_354, executable: tool("dnsmasq"), arguments: ["-k", "-C", dnsmasqConf]),
        try ServerProcess(name: "unbound", port: 15_355, executable: tool("unbound"), arguments: ["-d", "-c", unboundConf]),
    ]
}

let agent = try startAgent("edgemesh agent", port: 15_353, manifests: manifests, state: work.appendingPathComponent("state"))
started = [agent]
let peers = try startPeers()
started = [agent] + peers
defer {
    agent.stop()
    for peer in peers { peer.stop() }
}
for server in [agent] + peers { awaitAnswer(server, name: records.name(0), containing: records.clusterIP(0), dig: dig) }
// Resident memory once the agent has settled: its snapshot written and the parse's freed heap
// handed back (it trims 3 s after the table changed).
Thread.sleep(forTimeInterval: 5)
let loadedRSS = agent.residentMegabytes
let loadedAnonymousRSS = agent.residentAnonymousMegabytes

// One server at a time, so they never compete with each other for the two cores.
var runs: [[DNSPerfResult]] = Array(repeating: [], count: 1 + peers.count)
if !memoryOnly {
    let dnsperf = tool("dnsperf")
    for _ in 0..<rounds {
        for (index, server) in ([agent] + peers).enumerated() {
            runs[index].append(measure(server, queryFile: queryFile, seconds: seconds, dnsperf: dnsperf))
        }
    }
}
let agentResult = DNSPerfResult(combining: runs[0])
let peerResults = peers.indices.map { (peers[$0].name, DNSPerfResult(combining: runs[$0 + 1])) }

for (name, result) in peerResults {
    report("dns_qps_vs_\(name)", agentResult.queriesPerSecond, "queries/s", peer: result.queriesPerSecond)
    report("dns_latency_p50_vs_\(name)", agentResult.percentileMilliseconds(0.50), "ms", peer: result.percentileMilliseconds(0.50))
    report("dns_latency_p99_vs_\(name)", agentResult.percentileMilliseconds(0.99), "ms", peer: result.percentileMilliseconds(0.99))
    report("dns_cpu_per_query_vs_\(name)", agentResult.cpuMicrosecondsPerQuery, "us", peer: result.cpuMicrosecondsPerQuery)
    report("dns_lost_vs_\(name)", Double(agentResult.lost), "queries", peer: Double(result.lost))
}
report("agent_rss_1000_services_10000_endpoints", loadedRSS, "MiB")
report("agent_rss_anonymous_1000_services_10000_endpoints", loadedAnonymousRSS, "MiB")
report("agent_rss_after_load", agent.residentMegabytes, "MiB", peer: peers.first?.residentMegabytes)

// The floor: the same agent with no services at all (the runtime, its libraries, NIO).
let noManifests = work.appendingPathComponent("no-manifests")
try FileManager.default.createDirectory(at: noManifests, withIntermediateDirectories: true)
let emptyAgent = try startAgent("edgemesh agent without services", port: 15_356, manifests: noManifests, state: work.appendingPathComponent("empty-state"))
started.append(emptyAgent)
awaitAnswer(emptyAgent, name: records.name(0), containing: "status: NXDOMAIN", dig: dig)
Thread.sleep(forTimeInterval: 5)
report("agent_rss_no_services", emptyAgent.residentMegabytes, "MiB")
report("agent_rss_anonymous_no_services", emptyAgent.residentAnonymousMegabytes, "MiB")
emptyAgent.stop()
