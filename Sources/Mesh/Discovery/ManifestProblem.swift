/// A manifest document that was skipped, and why: the file, then the document and field as
/// `DecodingProblem` tells them.
public struct ManifestProblem: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var problem: DecodingProblem

    public init(file: String, problem: DecodingProblem) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "\(file): \(problem)" }
}
