import BenchmarkLab
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
    var residentMegabytes: Double { Measurements.residentKilobytes(pid) / 1024 }

    /// The part of it that is the process's own (heap, stacks), not pages of its binary and
    /// shared libraries, in MiB.
    var residentAnonymousMegabytes: Double { Measurements.statusKilobytes(pid, field: "RssAnon") / 1024 }

    /// CPU time (user and system) the process has used so far, in seconds.
    var cpuSeconds: Double { Measurements.cpuSeconds(pid) }

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
