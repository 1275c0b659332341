/// A certificate or key that cannot serve: names the Secret key at fault and what is wrong.
public struct TLSCredentialError: Error, CustomStringConvertible, Hashable, Sendable {
    /// The Secret key holding the bad value (`tls.crt`, `tls.key`, `ca.crt`).
    public var field: String
    public var problem: String

    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String { "\(field) \(problem)" }
}
