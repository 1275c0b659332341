#if canImport(Glibc)
import Glibc
#endif

/// A network namespace held open by a descriptor, so that a thread can create sockets in it.
///
/// A socket belongs to the namespace its creating thread was in when it was made, for ever: the
/// lab's one event loop thread steps into a node's namespace just long enough to create a
/// socket there (`perform`), and every later use of that socket, on the same thread, stays in
/// the node's namespace whatever the thread's namespace is then.
final class NetworkNamespace: @unchecked Sendable {
    /// The name `ip netns` knows it by; nil for the namespace the runner started in.
    let name: String?
    private let descriptor: Int32

    /// The namespace `ip netns add NAME` made (its file under /var/run/netns).
    init(named name: String) throws {
        let descriptor = open("/var/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw LabError("cannot open network namespace \(name): errno \(errno)") }
        self.name = name
        self.descriptor = descriptor
    }

    /// The calling thread's namespace now.
    static func current() throws -> NetworkNamespace {
        try NetworkNamespace(path: "/proc/thread-self/ns/net")
    }

    private init(path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw LabError("cannot open \(path): errno \(errno)") }
        self.name = nil
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Runs `body` with the calling thread in this namespace, then moves the thread back to
    /// `home`. Crashes when the kernel refuses to move the thread back: a thread left in the
    /// wrong namespace would silently put later sockets on the wrong node.
    func perform<Result>(returningTo home: NetworkNamespace, _ body: () throws -> Result) throws -> Result {
        guard Self.setNamespace(descriptor, Self.cloneNewNet) == 0 else {
            throw LabError("cannot enter network namespace \(name ?? "?"): errno \(errno)")
        }
        defer { precondition(Self.setNamespace(home.descriptor, Self.cloneNewNet) == 0, "cannot return to the runner's network namespace") }
        return try body()
    }

    /// `setns(2)`: Glibc's module map leaves it out (it needs _GNU_SOURCE), so it is looked up.
    private typealias SetNamespace = @convention(c) (Int32, Int32) -> Int32
    private static let setNamespace: SetNamespace = unsafeBitCast(dlsym(nil, "setns")!, to: SetNamespace.self)
    private static let cloneNewNet: Int32 = 0x4000_0000
}
