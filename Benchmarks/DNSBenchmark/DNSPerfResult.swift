import Foundation

/// What one dnsperf run measured: throughput from its summary, latency percentiles from its
/// per-response lines (`-v`).
struct DNSPerfResult {
    var queriesPerSecond: Double
    var completed: Int
    var lost: Int
    /// Latencies of answered queries, in seconds, sorted.
    var latencies: [Double]
    /// CPU time the server used during the run (set by the caller), in seconds.
    var serverCPUSeconds = 0.0

    /// The server's CPU time per answered query, in microseconds: what a query costs whatever
    /// else the machine is doing.
    var cpuMicrosecondsPerQuery: Double {
        completed == 0 ? 0 : serverCPUSeconds / Double(completed) * 1_000_000
    }

    init(parsing output: String) {
        var qps = 0.0, completed = 0, lost = 0
        var latencies: [Double] = []
        for line in output.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("Queries per second:") {
                qps = Double(trimmed.split(separator: " ").last ?? "") ?? 0
            } else if trimmed.hasPrefix("Queries completed:") {
                completed = Int(trimmed.split(separator: " ")[2]) ?? 0
            } else if trimmed.hasPrefix("Queries lost:") {
                lost = Int(trimmed.split(separator: " ")[2]) ?? 0
            } else if trimmed.hasPrefix(">"), let latency = Double(trimmed.split(separator: " ").last ?? "") {
                // "> NOERROR svc-1.default.svc.cluster.local A 0.000085"
                latencies.append(latency)
            }
        }
        self.queriesPerSecond = qps
        self.completed = completed
        self.lost = lost
        self.latencies = latencies.sorted()
    }

    /// Several runs against one server as one result: the median run's queries/s (the load on
    /// a shared machine comes and goes), every latency pooled, lost queries summed.
    init(combining runs: [DNSPerfResult]) {
        let rates = runs.map(\.queriesPerSecond).sorted()
        self.queriesPerSecond = rates.isEmpty ? 0 : rates[rates.count / 2]
        self.completed = runs.reduce(0) { $0 + $1.completed }
        self.lost = runs.reduce(0) { $0 + $1.lost }
        self.latencies = runs.flatMap(\.latencies).sorted()
        self.serverCPUSeconds = runs.reduce(0) { $0 + $1.serverCPUSeconds }
    }

    /// The `fraction` percentile in milliseconds (nearest rank); 0 when nothing was answered.
    func percentileMilliseconds(_ fraction: Double) -> Double {
        guard !latencies.isEmpty else { return 0 }
        let rank = min(latencies.count - 1, max(0, Int((fraction * Double(latencies.count)).rounded(.up)) - 1))
        return latencies[rank] * 1000
    }
}
