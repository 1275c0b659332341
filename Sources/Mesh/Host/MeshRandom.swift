/// Where a host's randomness comes from: the system generator on Linux, a seeded generator in
/// `NetSim`. Implementations are confined to the host's event loop.
public protocol EntropySource: AnyObject, Sendable {
    func nextUInt64() -> UInt64
}

/// The random number generator mesh code uses. It is a thin handle on the host's
/// `EntropySource`, so copies draw from the same stream:
///
///     var random = host.random
///     let index = Int.random(in: 0..<endpoints.count, using: &random)
public struct MeshRandom: RandomNumberGenerator, Sendable {
    public let source: any EntropySource

    public init(source: any EntropySource) {
        self.source = source
    }

    public mutating func next() -> UInt64 {
        source.nextUInt64()
    }
}
