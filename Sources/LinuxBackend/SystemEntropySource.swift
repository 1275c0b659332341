import Mesh

/// Randomness for a real host: the operating system's generator.
public final class SystemEntropySource: EntropySource, @unchecked Sendable {
    public init() {}

    public func nextUInt64() -> UInt64 {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }
}
