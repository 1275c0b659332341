import Dispatch

/// The main thread waits here until a stop signal arrives.
final class StopRequest: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private var signal: Int32 = 0

    func fire(_ signal: Int32) {
        self.signal = signal
        semaphore.signal()
    }

    /// Blocks until `fire`; returns the signal number.
    func wait() -> Int32 {
        semaphore.wait()
        return signal
    }
}
