/// A setting that cannot be used, in words for the operator.
struct AgentSettingsError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
