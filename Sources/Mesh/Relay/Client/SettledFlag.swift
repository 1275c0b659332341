/// Remembers that a promise with several possible completers was completed, so the others stand
/// down. Used only on one event loop, hence unchecked.
final class SettledFlag: @unchecked Sendable {
    private var settled = false

    /// `true` the first time, `false` ever after.
    func settle() -> Bool {
        guard !settled else { return false }
        settled = true
        return true
    }
}
