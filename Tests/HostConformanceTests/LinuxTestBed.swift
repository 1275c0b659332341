import Foundation  // temporary directories; its `Host` class is why `Mesh.Host` is spelled out
import LinuxBackend
import Logging
import Mesh
import NIOCore
import NIOPosix

/// Hosts on real sockets: `LinuxHost`s on 127.0.0.1 (ports tell them apart), each with its own
/// one-thread event loop, as separate nodes would have, and its own temporary store directory.
final class LinuxTestBed: HostTestBed {
    let name = "linux"
    private let root: URL
    private var groups: [MultiThreadedEventLoopGroup] = []

    init() throws {
        root = FileManager.default.temporaryDirectory
            .appendingPathComponent("edgemesh-hostbed-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    func makeHosts(_ count: Int) throws -> [any Mesh.Host] {
        (0..<count).map { _ in
            let index = groups.count
            let group = LinuxEventLoops.makeGroup()
            groups.append(group)
            let loop = group.next()
            return LinuxHost(
                name: "host-\(index)",
                eventLoop: loop,
                storeDirectory: root.appendingPathComponent("host-\(index)").path,
                interception: RecordingInterception(eventLoop: loop),
                logger: Logger(label: "edgemesh.hostbed")
            )
        }
    }

    func address(of host: any Mesh.Host) -> IPv4Address { .loopback }

    /// Races `future` against a timer on its own loop; the first to complete the promise wins
    /// (a promise ignores later completions).
    func wait<T: Sendable>(for future: EventLoopFuture<T>, timeout: TimeAmount) throws -> T {
        let loop = future.eventLoop
        let promise = loop.makePromise(of: T.self)
        let name = self.name
        let timer = loop.scheduleTask(in: timeout) {
            promise.fail(TestBedTimeout(bed: name, timeout: timeout))
        }
        future.whenComplete { result in
            timer.cancel()
            promise.completeWith(result)
        }
        return try promise.futureResult.wait()
    }

    func shutdown() throws {
        var firstError: Error?
        for group in groups {
            do { try LinuxEventLoops.syncShutdown(group) } catch { firstError = firstError ?? error }
        }
        groups = []
        do { try FileManager.default.removeItem(at: root) } catch { firstError = firstError ?? error }
        if let firstError { throw firstError }
    }
}

/// Stands in for nftables (another module's work): remembers the rule set it was last given.
final class RecordingInterception: TrafficInterception {
    private let eventLoop: EventLoop
    private let applied: NIOLoopBoundBox<[InterceptionRule]>

    init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
        self.applied = NIOLoopBoundBox.makeBoxSendingValue([], eventLoop: eventLoop)
    }

    /// The rules in force, read on the host's loop.
    var rules: EventLoopFuture<[InterceptionRule]> {
        eventLoop.submit { self.applied.value }
    }

    func apply(_ rules: [InterceptionRule]) -> EventLoopFuture<Void> {
        eventLoop.submit { self.applied.value = rules }
    }

    func removeAll() -> EventLoopFuture<Void> {
        eventLoop.submit { self.applied.value = [] }
    }
}
