/// A bad `edgemesh-agent.yaml`, naming the field as the file spells it.
struct AgentConfigFileError: Error, CustomStringConvertible {
    var field: String
    var reason: String
    var path: String?

    static func invalid(field: String, reason: String) -> AgentConfigFileError {
        AgentConfigFileError(field: field, reason: reason)
    }

    var description: String { "\(path ?? "agent config"): \(field): \(reason)" }
}
