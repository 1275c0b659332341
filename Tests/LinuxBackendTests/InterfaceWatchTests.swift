import Foundation
import LinuxBackend
import Logging
import Mesh
import NIOCore
import Testing

/// The agent follows address changes as the kernel announces them (rtnetlink), so a gateway
/// opens a listener on a new address at once, with no polling, inside its own network namespace.
@Suite struct InterfaceWatchTests {
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func increment() { lock.withLock { count += 1 } }
        var value: Int { lock.withLock { count } }

        /// Waits up to `seconds` for the count to pass `previous`.
        func waitBeyond(_ previous: Int, seconds: Double = 5) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if value > previous { return true }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return value > previous
        }
    }

    @Test(.enabled(if: NamespaceSupport.available, NamespaceSupport.comment))
    func addressesAddedAndRemovedAreAnnouncedAtOnce() throws {
        try TestNamespace.with { namespace in
            let group = LinuxEventLoops.makeGroup()
            defer { try? LinuxEventLoops.syncShutdown(group) }
            let loop = group.next()
            let counter = Counter()
            // Made on a thread inside the namespace: its netlink socket hears that namespace.
            let watch = try namespace.run {
                let host = LinuxHost(
                    name: "edge-1", eventLoop: loop, storeDirectory: NSTemporaryDirectory(),
                    interception: NoInterception(eventLoop: loop), logger: Logger(label: "edgemesh.test"))
                return host.watchInterfaces { counter.increment() }
            }
            defer { watch.cancel() }
            try namespace.exec(NamespaceSupport.ip, "link", "add", "eth1", "type", "bridge")
            try namespace.exec(NamespaceSupport.ip, "link", "set", "eth1", "up")
            let start = counter.value
            try namespace.exec(NamespaceSupport.ip, "addr", "add", "10.9.8.7/24", "dev", "eth1")
            #expect(counter.waitBeyond(start, seconds: 1), "an added address is announced within a second, not a 2 s poll")
            let added = counter.value
            try namespace.exec(NamespaceSupport.ip, "addr", "del", "10.9.8.7/24", "dev", "eth1")
            #expect(counter.waitBeyond(added, seconds: 1), "and a removed one")
        }
    }
}
