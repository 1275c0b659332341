import Glibc
import NIOCore

/// Hands freed heap memory back to the kernel a little after a burst of work, such as a
/// manifest directory or an API list parsed into the service table and its snapshot written.
///
/// glibc keeps freed chunks in its arenas for reuse, so without this the agent's resident size
/// stays at the high-water mark of the largest parse it ever did (about 5 MiB for 1,000
/// services with 10,000 endpoints). `malloc_trim` releases the free pages of every arena.
///
/// Confined to `eventLoop` (`@unchecked Sendable` only so it can be handed to it).
public final class HeapTrimmer: @unchecked Sendable {
    public let eventLoop: EventLoop
    /// How long after the first request of a burst the trim runs; long enough for the work the
    /// request announced (the snapshot follows a table change by a second) to be done.
    public let delay: TimeAmount
    private var pending: Scheduled<Void>?
    /// Trims done so far.
    public private(set) var trims = 0

    public init(eventLoop: EventLoop, delay: TimeAmount = .seconds(3)) {
        self.eventLoop = eventLoop
        self.delay = delay
    }

    /// Trims `delay` from now, unless a trim is already due (one per burst).
    public func trimSoon() {
        eventLoop.preconditionInEventLoop()
        guard pending == nil else { return }
        pending = eventLoop.assumeIsolated().scheduleTask(in: delay) {
            self.pending = nil
            self.trims += 1
            _ = Self.mallocTrim?(0)
        }
    }

    /// glibc's `malloc_trim`, which the Glibc module does not import (it lives in <malloc.h>);
    /// nil on a C library without it, where trimming is skipped.
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()

    public func cancel() {
        pending?.cancel()
        pending = nil
    }
}
