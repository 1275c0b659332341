import Mesh

/// Why a scenario file was rejected: which file, where in it, and what would be accepted.
///
/// The text reads `invalid scenario FILE[:LINE]: FIELD.PATH: MESSAGE`, for example
/// `invalid scenario Scenarios/x.yaml:14: network.nodes[2].network: unknown network "lan-c"
/// (known: internet, lan-a, lan-b)`.
public struct ScenarioError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The scenario file as it was named to the parser ("Scenarios/x.yaml").
    public var source: String
    /// The field the problem is in ("faults[0].at"); empty when it concerns the whole file.
    public var field: String
    /// The 1-based YAML line of the offending value (or of the mapping missing a key), when known.
    public var line: Int?
    /// What is wrong and what is allowed.
    public var message: String

    public init(source: String, field: String, line: Int? = nil, message: String) {
        self.source = source
        self.field = field
        self.line = line
        self.message = message
    }

    public var description: String {
        var text = "invalid scenario \(source)"
        if let line { text += ":\(line)" }
        text += ": "
        if !field.isEmpty { text += "\(field): " }
        return text + message
    }
}
