// Shared by the benchmarks that build throw-away network namespaces on this machine and run
// real programs in them (ProxyBenchmark, TunnelLabBenchmark). Not for tests: it kills the
// whole process with a message when the lab cannot be built.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A set of network namespaces and the background processes started in them; `tearDown`
/// removes both. Runs on the main thread only (`waitpid` instead of a run loop).
@MainActor
public final class Lab {
    public let name: String
    public let work: URL
    private var namespaces: [String] = []
    private var background: [Process] = []

    /// `name` prefixes the namespaces and the work directory; the process id keeps two runs apart.
    public init(name: String) {
        self.name = "\(name)-\(getpid())"
        work = FileManager.default.temporaryDirectory.appendingPathComponent("edgemesh-\(self.name)")
        try! FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    /// Progress goes to standard error so standard output holds only figures.
    public nonisolated static func progress(_ benchmark: String, _ text: String) {
        FileHandle.standardError.write(Data("\(benchmark): \(text)\n".utf8))
    }

    /// Stops with `message` unless running as root and every tool is executable.
    public static func require(root benchmark: String, tools: [String], install: String) {
        guard geteuid() == 0 else { fatalError("\(benchmark) needs root (network namespaces, nftables)") }
        for tool in tools where !FileManager.default.isExecutableFile(atPath: tool) {
            fatalError("\(benchmark) needs \(tool): \(install)")
        }
    }

    /// `--only PART` (repeatable, each one of `parts`) and the agent binary (default
    /// `.build/release/edgemesh`) from the command line; prints the usage and exits on anything else.
    public nonisolated static func arguments(benchmark: String, parts: [String]) -> (only: Set<String>, agent: String) {
        var arguments = Array(CommandLine.arguments.dropFirst())
        var only: Set<String> = []
        while let flag = arguments.firstIndex(of: "--only"), flag + 1 < arguments.count {
            only.insert(arguments[flag + 1])
            arguments.removeSubrange(flag...(flag + 1))
        }
        let agent = arguments.first ?? ".build/release/edgemesh"
        guard !agent.hasPrefix("-"), only.isSubset(of: parts), FileManager.default.isExecutableFile(atPath: agent) else {
            let problem = agent.hasPrefix("-") || !only.isSubset(of: parts) ? "" : "no agent binary at \(agent); "
            FileHandle.standardError.write(Data("""
                \(problem)usage: \(benchmark) [path/to/edgemesh] [--only \(parts.joined(separator: "|"))]...
                build the agent first: swift build -c release --product edgemesh

                """.utf8))
            exit(2)
        }
        return (only, agent)
    }

    /// Gives `namespace` what an agent's node has: cluster IPs routed to the loopback (where the
    /// agent intercepts them), the agent's link-local bridge `edgemesh0`, and `pod` (a /24
    /// address) on that bridge for the backends.
    public func addNodeNetwork(in namespace: String, pod: String) {
        for command in [
            ["route", "add", "10.96.0.0/12", "dev", "lo", "src", "127.0.0.1"],
            ["link", "add", "edgemesh0", "type", "bridge"], ["addr", "add", "169.254.96.16/32", "dev", "edgemesh0"],
            ["addr", "add", "\(pod)/24", "dev", "edgemesh0"], ["link", "set", "edgemesh0", "up"],
        ] {
            Lab.run(["/usr/sbin/ip", "-n", namespace] + command)
        }
    }

    /// Adds a namespace (full name returned) with its loopback up.
    @discardableResult
    public func addNamespace(_ suffix: String) -> String {
        let namespace = "\(name)-\(suffix)"
        Lab.run(["/usr/sbin/ip", "netns", "add", namespace])
        namespaces.append(namespace)
        Lab.run(["/usr/sbin/ip", "-n", namespace, "link", "set", "lo", "up"])
        return namespace
    }

    /// Runs `arguments` (an absolute path first) to completion, inside `namespace` if given;
    /// returns its exit status and standard output.
    @discardableResult
    public nonisolated static func run(_ arguments: [String], in namespace: String? = nil) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: namespace == nil ? arguments[0] : "/usr/sbin/ip")
        process.arguments = namespace.map { ["netns", "exec", $0] + arguments } ?? Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try! process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Starts `arguments` in the background inside `namespace`; its output goes to `log` in the
    /// work directory when named, else nowhere.
    @discardableResult
    public func start(_ arguments: [String], in namespace: String, log: String? = nil) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", namespace] + arguments
        let output = log.map { name -> FileHandle in
            let url = work.appendingPathComponent(name)
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                fatalError("cannot create the log \(url.path)")
            }
            return try! FileHandle(forWritingTo: url)
        }
        process.standardOutput = output ?? FileHandle.nullDevice
        process.standardError = output ?? FileHandle.nullDevice
        try! process.run()
        background.append(process)
        return process
    }

    /// Kills one background process and reaps it.
    public func stop(_ process: Process) {
        kill(process.processIdentifier, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(process.processIdentifier, &status, 0)
        background.removeAll { $0 === process }
    }

    public func tearDown() {
        for process in background { stop(process) }
        for namespace in namespaces.reversed() { Lab.run(["/usr/sbin/ip", "netns", "del", namespace]) }
        namespaces = []
        try? FileManager.default.removeItem(at: work)
    }

    /// Polls `check` every 0.2 s; on timeout aborts, naming `what`.
    public func waitUntil(_ what: String, seconds: Double = 30, _ check: () -> Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if check() { return }
            Thread.sleep(forTimeInterval: 0.2)
        }
        abort("timed out waiting for \(what)")
    }

    /// Prints the end of every log in the work directory, tears the lab down and stops.
    public func abort(_ message: String) -> Never {
        let logs = (try? FileManager.default.contentsOfDirectory(atPath: work.path))?.filter { $0.hasSuffix(".log") }.sorted() ?? []
        for log in logs {
            let text = (try? String(contentsOf: work.appendingPathComponent(log), encoding: .utf8)) ?? ""
            FileHandle.standardError.write(Data("--- \(log)\n\(text.split(separator: "\n").suffix(20).joined(separator: "\n"))\n".utf8))
        }
        tearDown()
        fatalError(message)
    }

    /// Writes `text` to `name` under the work directory (with a trailing newline; haproxy
    /// rejects a configuration whose last line has none) and returns its path.
    @discardableResult
    public func write(_ text: String, _ name: String) -> String {
        let url = work.appendingPathComponent(name)
        try! FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try! (text.hasSuffix("\n") ? text : text + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
}
