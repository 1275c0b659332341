import ArgumentParser

/// The options of commands that read a page of the local agent's endpoint.
struct AgentPageOptions: ParsableArguments {
    @Option(help: "The agent's status endpoint (ip:port).")
    var agent: String = "127.0.0.1:10551"

    @Flag(help: "Print the agent's JSON as it came.")
    var json = false

    /// The page's body; on a connection error, says how to start the agent so it answers, and
    /// exits with failure.
    func fetch(_ path: String) throws -> String {
        do {
            return try AgentPage.fetch(path, from: agent)
        } catch let error as ValidationError {
            throw error
        } catch {
            printError("cannot reach the agent at \(agent): \(error). Is `edgemesh agent` running with --status-address \(agent)?")
            throw ExitCode.failure
        }
    }
}
