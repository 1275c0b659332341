/// What one direction of a simulated link does to packets.
///
/// Delay is `latency` plus an exponentially distributed extra with mean `jitter` (so jitter
/// reorders packets unless `reorder` is false), plus serialisation time at `bandwidth`.
public struct LinkProfile: Hashable, Sendable {
    /// Gilbert-Elliott bursty loss: a hidden good/bad state; packets are lost with
    /// `lossInBadState` while bad.
    public struct BurstLoss: Hashable, Sendable {
        /// Probability per packet of going from good to bad.
        public var enterBad: Double
        /// Probability per packet of going from bad back to good.
        public var exitBad: Double
        public var lossInBadState: Double

        public init(enterBad: Double, exitBad: Double, lossInBadState: Double = 1) {
            self.enterBad = enterBad
            self.exitBad = exitBad
            self.lossInBadState = lossInBadState
        }
    }

    /// Minimum one-way delay, nanoseconds.
    public var latency: UInt64
    /// Mean of the random extra delay, nanoseconds.
    public var jitter: UInt64
    /// Probability that a packet is lost at random.
    public var loss: Double
    public var burstLoss: BurstLoss?
    /// Probability that a packet is delivered twice.
    public var duplicate: Double
    /// Bits per second; `nil` is unlimited.
    public var bandwidth: UInt64?
    /// Bytes that may wait for the link before new packets are dropped (tail drop); only
    /// meaningful with a bandwidth.
    public var queueLimit: Int
    /// Whether jitter may let a packet overtake the one sent before it.
    public var reorder: Bool

    public init(
        latency: UInt64 = 0, jitter: UInt64 = 0, loss: Double = 0, burstLoss: BurstLoss? = nil,
        duplicate: Double = 0, bandwidth: UInt64? = nil, queueLimit: Int = 256 * 1024, reorder: Bool = true
    ) {
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
        self.burstLoss = burstLoss
        self.duplicate = duplicate
        self.bandwidth = bandwidth
        self.queueLimit = queueLimit
        self.reorder = reorder
    }

    /// A perfect link: no delay, no loss.
    public static let ideal = LinkProfile()
}
