/// Why a lab run could not be built, run or cleaned up.
public struct LabError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
