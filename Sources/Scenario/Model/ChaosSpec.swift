import NetworkTopology

/// `chaos:` in a scenario file: the bounds within which the seed draws faults on top of the
/// file's own when a run asks for chaos (`edgemesh sim --chaos LEVEL`; without the section,
/// the defaults below). The section alone draws nothing, so the file's own runs (and its lab
/// runs) stay as written. Whatever is drawn is over by `until`, and the run is judged once it
/// has had `settle` to recover.
public struct ChaosSpec: Hashable, Sendable {
    /// What may be drawn.
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        case flap, linkDown, degrade, crash, relayCrash, partition, natReboot, cloudUnreachable, clockSkew, manifestChurn
    }

    /// Faults per run for `--chaos file`.
    public var faults: Int
    public var kinds: [Kind]
    /// Drawn faults start at or after `from` and are over by `until` (nanoseconds of the run).
    public var from: UInt64
    public var until: UInt64
    /// The longest a drawn fault lasts (the shortest is one second).
    public var longest: UInt64
    /// How long after the last drawn fault the mesh has to recover before the expectations and
    /// the liveness invariant judge it.
    public var settle: UInt64
    /// The most a loss burst adds (a probability) and a latency spike adds (each way).
    public var maxLoss: Double
    public var maxLatency: UInt64
    /// The furthest a node's clock is set off, ahead or behind.
    public var maxSkew: UInt64
    /// The nodes and routers faults may aim at; nil for all of them.
    public var targets: [String]?

    public init(
        faults: Int, kinds: [Kind] = Kind.allCases, from: UInt64, until: UInt64, longest: UInt64, settle: UInt64,
        maxLoss: Double = 0.5, maxLatency: UInt64 = 500 * Nanoseconds.millisecond, maxSkew: UInt64 = 5 * Nanoseconds.minute,
        targets: [String]? = nil
    ) {
        self.faults = faults
        self.kinds = kinds
        self.from = from
        self.until = until
        self.longest = longest
        self.settle = settle
        self.maxLoss = maxLoss
        self.maxLatency = maxLatency
        self.maxSkew = maxSkew
        self.targets = targets
    }

    /// The bounds of a run `duration` long without a `chaos:` section: five faults between a
    /// tenth and half of the run, each up to a tenth of it (at most 30 s), and three tenths of
    /// the run, at most 60 s, to settle: a tunnel notices a dead path within 45 s (35 s of
    /// silence, checked every 10 s), then dials again.
    public static func defaults(duration: UInt64) -> ChaosSpec {
        ChaosSpec(
            faults: ChaosLevel.medium.faultCount!, from: duration / 10, until: duration / 2,
            longest: max(Nanoseconds.second, min(30 * Nanoseconds.second, duration / 10)),
            settle: min(60 * Nanoseconds.second, duration * 3 / 10))
    }
}
