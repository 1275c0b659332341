import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One mesh process of a lab run (an agent or a relay) in its node's network namespace, its
/// output in `<name>.log` in the run's directory. `ip netns exec` replaces itself with the
/// program, so the pid signalled is the program's own.
final class LabProcess {
    let name: String
    let logPath: String
    private let process: Process

    init(name: String, namespace: String, executable: String, arguments: [String], logDirectory: String) throws {
        self.name = name
        logPath = "\(logDirectory)/\(name).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", namespace, executable] + arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try log.close()
    }

    var isRunning: Bool { process.isRunning }

    /// SIGTERM: the program stops as it would under a kubelet.
    func terminate() {
        if process.isRunning { process.terminate() }
    }

    /// SIGKILL: a power cut as far as the program can tell.
    func kill() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }

    /// The last lines of its log, for a report of why it failed.
    func logTail(lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}
