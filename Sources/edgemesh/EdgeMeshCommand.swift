import ArgumentParser
import Mesh

#if canImport(Glibc)
import Glibc
#endif

@main
struct EdgeMeshCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgemesh",
        abstract: "An edge service mesh: service discovery, DNS, proxy and tunnel for edge nodes.",
        discussion: """
            Every capability runs on a deterministic network simulator (`edgemesh sim`) as well as \
            on Linux. Exit status: 0 success, 1 an expectation failed, 2 invalid input.
            """,
        version: MeshModule.version,
        subcommands: [AgentCommand.self, RelayCommand.self, StatusCommand.self, FlowsCommand.self, SimCommand.self, LabCommand.self, CaptureCommand.self, ValidateCommand.self]
    )

    /// ArgumentParser exits 64 for usage errors; this command line promises 2 for any invalid input.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let exit as ExitCode {
            Glibc.exit(exit.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            printError(fullMessage(for: error))
            Glibc.exit(code == .failure ? 1 : 2)
        }
    }
}

/// Writes a line to standard error (the global `stderr` is not concurrency-safe in Swift 6).
func printError(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}
