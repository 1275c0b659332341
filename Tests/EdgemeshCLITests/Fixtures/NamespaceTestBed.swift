import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throw-away network namespace for running the real agent, its backends and its clients:
/// loopback up, a route for the cluster CIDR (so redirected replies find their way back), and
/// a bridge `edgemesh0` carrying the agent's link-local address and a "pod" address.
/// Deleted, with everything started in it, by `tearDown()`.
final class NamespaceTestBed {
    let name: String
    static let podAddress = "10.244.0.1"
    static let agentAddress = "169.254.96.16"
    static let ip = "/usr/sbin/ip"
    static let python = "/usr/bin/python3"
    private var processes: [Process] = []

    /// Whether these tests can run here: as root, with iproute2, python3, curl and nft, and
    /// whatever `tools` (paths) and `pythonModules` a test adds. Tests say so in their
    /// `.enabled(if:)` trait, so a missing tool shows as a skipped test, not a pass.
    static func isAvailable(tools: [String] = [], pythonModules: [String] = []) -> Bool {
        guard geteuid() == 0 else { return false }
        for tool in [ip, python, "/usr/bin/curl", "/usr/sbin/nft"] + tools where !FileManager.default.isExecutableFile(atPath: tool) {
            return false
        }
        return pythonModules.allSatisfy { module in
            (try? EdgemeshProcess.run(executable: URL(fileURLWithPath: python), ["-c", "import \(module)"]).status) == 0
        }
    }

    init() throws {
        name = "emproxy-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try Self.run([Self.ip, "netns", "add", name])
        for command in [
            ["link", "set", "lo", "up"],
            ["route", "add", "10.96.0.0/12", "dev", "lo", "src", "127.0.0.1"],
            ["link", "add", "edgemesh0", "type", "bridge"],
            ["addr", "add", "\(Self.agentAddress)/32", "dev", "edgemesh0"],
            ["addr", "add", "\(Self.podAddress)/24", "dev", "edgemesh0"],
            ["link", "set", "edgemesh0", "up"],
        ] {
            try Self.run([Self.ip, "-n", name] + command)
        }
        // `ip netns exec` bind-mounts this over /etc/resolv.conf: names go to the agent's DNS.
        let resolver = URL(fileURLWithPath: "/etc/netns/\(name)")
        try FileManager.default.createDirectory(at: resolver, withIntermediateDirectories: true)
        try "nameserver \(Self.agentAddress)\noptions ndots:5\nsearch default.svc.cluster.local svc.cluster.local cluster.local\n"
            .write(to: resolver.appendingPathComponent("resolv.conf"), atomically: true, encoding: .utf8)
    }

    func tearDown() {
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        processes = []
        _ = try? Self.run([Self.ip, "netns", "del", name])
        try? FileManager.default.removeItem(atPath: "/etc/netns/\(name)")
    }

    /// Writes `manifests` (file name to YAML) to `directory`/manifests and starts the real agent
    /// on them (node `node-a`, state in `directory`/state, log in `directory`/agent.log) with
    /// `arguments` added; returns the manifest directory, for changes.
    @discardableResult
    func startAgent(manifests: [String: String], in directory: URL, arguments: [String] = []) throws -> URL {
        let folder = directory.appendingPathComponent("manifests")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (file, text) in manifests {
            try text.write(to: folder.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
        try start(
            [EdgemeshProcess.binary.path, "agent", "--node-name", "node-a", "--manifests", folder.path,
             "--state-dir", directory.appendingPathComponent("state").path] + arguments,
            log: directory.appendingPathComponent("agent.log"))
        return folder
    }

    /// Starts `arguments` inside the namespace in the background; `log` receives its output.
    @discardableResult
    func start(_ arguments: [String], log: URL? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.ip)
        process.arguments = ["netns", "exec", name] + arguments
        if let log {
            FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
        } else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        processes.append(process)
        return process
    }

    /// Runs `arguments` inside the namespace to completion; returns status and standard output.
    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try Self.capture([Self.ip, "netns", "exec", name] + arguments)
    }

    /// Repeats `body` every 200 ms until it returns true or `seconds` pass.
    static func eventually(within seconds: TimeInterval = 30, _ body: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try body() { return true }
            Thread.sleep(forTimeInterval: 0.2)
        } while Date() < deadline
        return false
    }

    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let result = try capture(arguments)
        guard result.status == 0 else {
            throw NamespaceCommandFailed(command: arguments.joined(separator: " "), status: result.status)
        }
        return result.output
    }

    static func capture(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        // Clients such as `openssl s_client` read standard input until its end.
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

struct NamespaceCommandFailed: Error, CustomStringConvertible {
    let command: String
    let status: Int32
    var description: String { "\(command) exited with status \(status)" }
}
