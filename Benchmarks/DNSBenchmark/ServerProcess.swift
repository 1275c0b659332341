import Foundation

/// A DNS server under test, started as a child process and stopped with SIGTERM.
final class ServerProcess {
    let name: String
    let port: Int
    private let process = Process()

    init(name: String, port: Int, executable: String, arguments: [String]) throws {
        self.name = name
        self.port = port
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// Resident memory from /proc, in MiB.
    var residentMegabytes: Double { statusMegabytes("VmRSS") }

    /// The part of it that is the process's own (heap, stacks), not pages of its binary and
    /// shared libraries, in MiB.
    var residentAnonymousMegabytes: Double { statusMegabytes("RssAnon") }

    /// CPU time (user and system) the process has used so far, in seconds, from /proc/PID/stat.
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let afterName = stat.lastIndex(of: ")")
        else { return 0 }
        // Fields after the command name: state is field 3, utime 14 and stime 15.
        let fields = stat[stat.index(after: afterName)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    private func statusMegabytes(_ field: String) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return 0 }
        return kilobytes / 1024
    }

    /// SIGTERM, then SIGKILL after 5 s. Polls rather than `waitUntilExit`, which was seen here
    /// to miss a child's exit while other children were running.
    func stop() {
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(pid, SIGKILL) }
    }
}
