/// What a seed sweep (or one shard of it) wrote with `--results FILE`, and what
/// `edgemesh sim --merge` reads back: the scenario, the whole range swept, the shard this file
/// covers, and a result per seed it ran.
public struct SweepResults: Codable, Equatable, Sendable {
    public var scenario: String
    public var firstSeed: UInt64
    public var lastSeed: UInt64
    /// "I/N" (I from 0) when this file holds one shard: the seeds whose offset from `firstSeed`
    /// is I modulo N.
    public var shard: String?
    public var results: [SeedResult]

    public init(scenario: String, firstSeed: UInt64, lastSeed: UInt64, shard: String?, results: [SeedResult]) {
        self.scenario = scenario
        self.firstSeed = firstSeed
        self.lastSeed = lastSeed
        self.shard = shard
        self.results = results
    }

    /// The most seeds `merge` lists as missing (a lost shard of a huge sweep is named, not spelled out).
    public static let missingListedAtMost = 1000

    /// The shards of one sweep as one: results in seed order (a seed run twice counts once),
    /// and the seeds of the range no file holds (at most `missingListedAtMost`). Throws when the files are of different sweeps.
    public static func merge(_ parts: [SweepResults]) throws(SweepMergeError) -> (merged: SweepResults, missing: [UInt64]) {
        guard let first = parts.first else { throw SweepMergeError("no results to merge") }
        for part in parts.dropFirst()
        where part.scenario != first.scenario || part.firstSeed != first.firstSeed || part.lastSeed != first.lastSeed {
            throw SweepMergeError(
                "the results are of different sweeps: \(first.scenario) seeds \(first.firstSeed)..\(first.lastSeed) "
                    + "and \(part.scenario) seeds \(part.firstSeed)..\(part.lastSeed)")
        }
        var bySeed: [UInt64: SeedResult] = [:]
        for part in parts {
            for result in part.results where bySeed[result.seed] == nil { bySeed[result.seed] = result }
        }
        let results = bySeed.values.sorted { $0.seed < $1.seed }
        let missing = (first.firstSeed...first.lastSeed).lazy.filter { bySeed[$0] == nil }.prefix(missingListedAtMost)
        return (SweepResults(scenario: first.scenario, firstSeed: first.firstSeed, lastSeed: first.lastSeed, shard: nil, results: results),
                Array(missing))
    }
}

/// Why shards' results could not be merged.
public struct SweepMergeError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
