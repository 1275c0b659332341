/// How much `--chaos` adds to a scenario's own faults.
public enum ChaosLevel: String, CaseIterable, Sendable {
    case low, medium, high

    /// Faults drawn per run.
    public var faultCount: Int {
        switch self {
        case .low: 2
        case .medium: 5
        case .high: 10
        }
    }
}
