import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What one lab run owns on this machine, and its names: a directory under `/run/edgemesh-lab`
/// named after the run (its pid), holding the owner's pid and every network namespace made,
/// listed as it is made, so that whatever a crashed runner left behind is found and removed by
/// the next run, and nothing it did not make.
final class LabNames {
    static let rootDirectory = "/run/edgemesh-lab"
    /// Runs this process has started, so that runs side by side get names of their own.
    private static let runsStarted = Atomic<Int>(0)

    /// `emlab<pid>-<n>`: the prefix of every namespace of the run (n counts runs of one process).
    let runID: String
    /// The run's own files: state directories, manifests, logs, captures.
    let directory: String
    private(set) var namespaces: [String] = []
    private var namespaceList: FileHandle

    init() throws {
        runID = "emlab\(getpid())-\(Self.runsStarted.add(1, ordering: .relaxed).newValue)"
        directory = "\(Self.rootDirectory)/\(runID)"
        let files = FileManager.default
        try? files.removeItem(atPath: directory)
        try files.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Data("\(getpid())\n".utf8).write(to: URL(fileURLWithPath: "\(directory)/owner"))
        files.createFile(atPath: "\(directory)/namespaces", contents: nil)
        namespaceList = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(directory)/namespaces"))
    }

    func namespace(forHost name: String) -> String { "\(runID)-\(name)" }

    func namespace(forNetwork name: String) -> String { "\(runID)-net-\(name)" }

    /// `ip netns add`, noted in the run's list first so that a crash right after leaves no orphan.
    func makeNamespace(_ name: String) throws -> String {
        namespaceList.write(Data("\(name)\n".utf8))
        namespaces.append(name)
        try LabShell.run(["ip", "netns", "add", name])
        try LabShell.run(["ip", "-n", name, "link", "set", "lo", "up"])
        // IPv4 only, as the simulator: no IPv6 router solicitations and neighbour discovery in
        // the captures, no IPv6 paths the simulator could not have taken.
        try LabShell.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"], in: name)
        return name
    }

    /// Kills every process left in the run's namespaces, deletes them and, unless `keepFiles`,
    /// the run's directory.
    func removeAll(keepFiles: Bool) {
        Self.remove(namespaces: namespaces)
        try? namespaceList.close()
        if keepFiles {
            FileManager.default.createFile(atPath: "\(directory)/kept", contents: nil)
        } else {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Removes what runs whose owner is gone left behind (a runner killed with SIGKILL, a
    /// machine's crash); returns their ids. Namespaces are only ever those their lists name.
    static func removeLeftovers() -> [String] {
        let files = FileManager.default
        guard let runs = try? files.contentsOfDirectory(atPath: rootDirectory) else { return [] }
        var removed: [String] = []
        for run in runs.sorted() where run.hasPrefix("emlab") {
            let directory = "\(rootDirectory)/\(run)"
            let owner = (try? String(contentsOfFile: "\(directory)/owner", encoding: .utf8))
                .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            // A live owner (this process included: runs side by side) is still using its run.
            if let owner, kill(owner, 0) == 0 { continue }
            guard let list = try? String(contentsOfFile: "\(directory)/namespaces", encoding: .utf8) else { continue }
            let namespaces = list.split(separator: "\n").map(String.init).filter { $0.hasPrefix(run + "-") }
            remove(namespaces: namespaces)
            try? files.removeItem(atPath: "\(directory)/namespaces")
            if !files.fileExists(atPath: "\(directory)/kept") { try? files.removeItem(atPath: directory) }
            removed.append(run)
        }
        return removed
    }

    private static func remove(namespaces: [String]) {
        for namespace in namespaces {
            let pids = (try? LabShell.run(["ip", "netns", "pids", namespace])) ?? ""
            for pid in pids.split(separator: "\n").compactMap({ pid_t($0) }) { kill(pid, SIGKILL) }
        }
        for namespace in namespaces {
            _ = try? LabShell.run(["ip", "netns", "del", namespace])
        }
    }
}

