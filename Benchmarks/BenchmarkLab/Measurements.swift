import Foundation

/// The measuring tools both lab benchmarks use, each run inside a namespace.
public enum Measurements {
    /// A figure with two decimals, as the benchmarks print them.
    public static func format(_ value: Double) -> String { String(format: "%.2f", value) }

    /// Prints one figure, `name value unit`; `peer` names the figure it is compared with,
    /// measured in the same run, and adds `peer=value ratio=x`.
    public static func report(_ figure: String, _ value: Double, _ unit: String, peer: (name: String, value: Double)? = nil) {
        var line = "\(figure) \(format(value)) \(unit)"
        if let peer { line += " \(peer.name)=\(format(peer.value)) ratio=\(format(value / peer.value))" }
        print(line)
        fflush(nil)
    }

    /// iperf3's received throughput in Gbit/s (NaN when iperf3 failed).
    public static func iperf(_ host: String, port: Int = 5201, streams: Int = 1, seconds: Int = 5,
                             in namespace: String) -> Double {
        let result = Lab.run(["/usr/bin/iperf3", "-c", host, "-p", "\(port)", "-t", "\(seconds)", "-P", "\(streams)", "-J"],
                             in: namespace)
        guard let json = try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any],
            let end = json["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any],
            let bits = received["bits_per_second"] as? Double
        else { return .nan }
        return bits / 1e9
    }

    public static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
    }

    /// A process's resident set size in KiB, from /proc.
    public static func residentKilobytes(_ pid: Int32) -> Double {
        statusKilobytes(pid, field: "VmRSS")
    }

    /// A size field of /proc/PID/status in KiB (`VmRSS`, `RssAnon`, ...); NaN when unreadable.
    public static func statusKilobytes(_ pid: Int32, field: String) -> Double {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? .nan
    }

    /// CPU time (user + system) a process has used so far, threads included, in seconds, from
    /// /proc/PID/stat; NaN when unreadable.
    public static func cpuSeconds(_ pid: Int32) -> Double {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        // Fields after the command name, which is in parentheses and may hold spaces: utime and
        // stime are the 12th and 13th of them.
        guard let end = stat.lastIndex(of: ")") else { return .nan }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return .nan }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Requests/s and the 99th percentile latency (ms) from the output of `wrk --latency`; NaN
    /// for a figure it did not print.
    public static func wrkFigures(_ output: String) -> (rps: Double, p99: Double) {
        var rps = Double.nan, p99 = Double.nan
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.first == "Requests/sec:", fields.count > 1 { rps = Double(fields[1]) ?? .nan }
            if fields.first == "99%", fields.count > 1 { p99 = milliseconds(String(fields[1])) }
        }
        return (rps, p99)
    }

    /// A duration as wrk prints it (`812.00us`, `1.20ms`, `2.00s`) in milliseconds.
    public static func milliseconds(_ text: String) -> Double {
        for (suffix, scale) in [("ms", 1.0), ("us", 0.001), ("s", 1000.0)] where text.hasSuffix(suffix) {
            return (Double(text.dropLast(suffix.count)) ?? .nan) * scale
        }
        return .nan
    }
}
