/// One limit of the agent's (README, "Resource limits") and how often it was reached: a
/// `/metrics` counter and, once it is not zero, a line of `edgemesh status`. Both come from the
/// one list `EdgeAgent.limitCounters`, so a limit cannot be counted in one and missing in the
/// other.
public struct LimitCounter: Sendable {
    public var metric: String
    public var labels: [(String, String)]
    /// The metric's HELP text.
    public var help: String
    /// What happened, after the count in `edgemesh status` ("DNS TCP clients refused ...").
    public var words: String
    public var value: UInt64

    public init(_ metric: String, labels: [(String, String)] = [], help: String, words: String, value: some BinaryInteger) {
        self.metric = metric
        self.labels = labels
        self.help = help
        self.words = words
        self.value = UInt64(clamping: value)
    }
}
