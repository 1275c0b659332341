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
