import NIOCore
import NIOPosix

/// The event loop a `LinuxHost` runs on: mesh code expects one loop per host (no locks, no
/// ordering surprises), so each host gets a group of exactly one thread.
public enum LinuxEventLoops {
    /// A one-thread group; its `next()` is the host's loop. Shut it down when the host is done.
    public static func makeGroup() -> MultiThreadedEventLoopGroup {
        MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Closes every channel still open on `group` and stops its thread.
    public static func shutdown(_ group: MultiThreadedEventLoopGroup) async throws {
        try await group.shutdownGracefully()
    }

    /// As `shutdown(_:)`, for synchronous callers (tests, `main` before any `async` code).
    @available(*, noasync, message: "blocks the calling thread; use shutdown(_:) from async code")
    public static func syncShutdown(_ group: MultiThreadedEventLoopGroup) throws {
        try group.syncShutdownGracefully()
    }
}
