import ArgumentParser
import Scenario

/// Reading the scenario file a command was given.
enum ScenarioFile {
    /// The parsed file; on an error, prints it and exits 2 (the code for invalid input).
    static func load(_ path: String) throws -> Scenario {
        do {
            return try ScenarioParser.load(path: path)
        } catch {
            printError("\(error)")
            throw ExitCode(2)
        }
    }
}
