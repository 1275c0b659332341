/// How much `--chaos` adds to a scenario's own faults.
public enum ChaosLevel: String, CaseIterable, Sendable {
    case low, medium, high
    /// As many as the file's `chaos:` section says (`faults`), medium without one.
    case file

    /// Faults drawn per run; nil leaves the count to the bounds.
    public var faultCount: Int? {
        switch self {
        case .low: 2
        case .medium: 5
        case .high: 10
        case .file: nil
        }
    }
}
