import Foundation
import LinuxBackend
import Logging
import Mesh
import NIOCore
import NIOPosix
import Testing

/// What only the Linux backend does: errno mapping, the store's files on disk, real clocks.
/// The behaviour both backends share is in HostConformanceTests.
@Suite("LinuxHost")
struct LinuxHostTests {
    private let timeout = TimeAmount.seconds(10)

    @Test func listeningOnATakenPortWithoutReuseFailsWithAddressInUse() throws {
        try withHost { host, _ in
            let first = try wait(host.listenStream(Self.loopbackListen()) { $0.eventLoop.makeSucceededVoidFuture() })
            let taken = try #require(first.localAddress)
            let error = #expect(throws: HostError.self) {
                try wait(host.listenStream(StreamListenOptions(address: taken)) { $0.eventLoop.makeSucceededVoidFuture() })
            }
            #expect(error == .addressInUse(taken))

            let socket = try wait(host.bindDatagram(DatagramBindOptions(address: Self.loopback(port: 0))) {
                $0.eventLoop.makeSucceededVoidFuture()
            })
            let udpTaken = try #require(socket.localAddress)
            let udpError = #expect(throws: HostError.self) {
                try wait(host.bindDatagram(DatagramBindOptions(address: udpTaken)) { $0.eventLoop.makeSucceededVoidFuture() })
            }
            #expect(udpError == .addressInUse(udpTaken))
            try wait(first.close())
            try wait(socket.close())
        }
    }

    @Test func reuseLetsTwoListenersShareAPort() throws {
        try withHost { host, _ in
            let first = try wait(host.listenStream(Self.loopbackListen(reuse: true)) { $0.eventLoop.makeSucceededVoidFuture() })
            let shared = try #require(first.localAddress)
            let second = try wait(host.listenStream(StreamListenOptions(address: shared, reuseAddress: true)) {
                $0.eventLoop.makeSucceededVoidFuture()
            })
            #expect(second.localAddress == shared)
            try wait(first.close())
            try wait(second.close())
        }
    }

    @Test func bindingAnAddressOfAnotherMachineFailsWithAddressNotAvailable() throws {
        try withHost { host, _ in
            // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never assigned to this machine.
            let foreign = try SocketAddress(ipAddress: "192.0.2.1", port: 4000)
            let error = #expect(throws: HostError.self) {
                try wait(host.listenStream(StreamListenOptions(address: foreign)) { $0.eventLoop.makeSucceededVoidFuture() })
            }
            #expect(error == .addressNotAvailable(foreign))
        }
    }

    @Test func anUnansweredConnectFailsWithConnectTimeout() throws {
        try withHost { host, loop in
            // A listener that never accepts, with a backlog of 0: the kernel queues one
            // connection, then drops further SYNs, so the next connect hears nothing back.
            let silent = try wait(
                ServerBootstrap(group: loop)
                    .serverChannelOption(.backlog, value: 0)
                    .serverChannelOption(.autoRead, value: false)
                    .bind(to: Self.loopback(port: 0)))
            let target = try #require(silent.localAddress)
            let queued = try wait(host.connectStream(StreamConnectOptions(remote: target)) {
                $0.eventLoop.makeSucceededVoidFuture()
            })

            let options = StreamConnectOptions(remote: target, connectTimeout: .milliseconds(200))
            let error = #expect(throws: HostError.self) {
                try wait(host.connectStream(options) { $0.eventLoop.makeSucceededVoidFuture() })
            }
            #expect(error == .connectTimeout(target))
            try wait(queued.close())
            try wait(silent.close())
        }
    }

    @Test func aConnectionThatWasNotRedirectedHasNoOriginalDestination() throws {
        try withHost { host, _ in
            let accepted = host.eventLoop.makePromise(of: Channel.self)
            defer { accepted.fail(Abandoned()) }
            let listener = try wait(host.listenStream(Self.loopbackListen()) { channel in
                accepted.succeed(channel)
                return channel.eventLoop.makeSucceededVoidFuture()
            })
            let client = try wait(host.connectStream(StreamConnectOptions(remote: try #require(listener.localAddress))) {
                $0.eventLoop.makeSucceededVoidFuture()
            })
            let serverSide = try wait(accepted.futureResult)
            #expect(try wait(host.originalDestination(of: serverSide)) == nil)
            try wait(client.close())
            try wait(listener.close())
        }
    }

    @Test func directoryStoreSurvivesARestartAndLeavesNoTemporaryFiles() throws {
        try withHost { host, loop in
            let directory = try #require((host.store as? DirectoryStore)?.directory)
            let value = ByteBuffer(bytes: (0..<70_000).map { UInt8($0 % 253) })
            try wait(host.store.save("offline-snapshot", value))
            try wait(host.store.save("offline-snapshot", value))
            try wait(host.store.save("second.key", ByteBuffer(string: "x")))

            // A new store on the same directory is what the agent sees after a restart.
            let restarted = DirectoryStore(directory: directory, eventLoop: loop)
            #expect(try wait(restarted.load("offline-snapshot")) == value)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
                == ["offline-snapshot", "second.key"])

            try wait(restarted.remove("second.key"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["offline-snapshot"])
        }
    }

    /// The snapshot can hold a gateway's certificates: only the agent's user reads it, even
    /// in a directory that existed with looser permissions (a hostPath the kubelet made 0755).
    @Test func directoryStoreKeepsItsDirectoryAndFilesPrivate() throws {
        try withHost { _, loop in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("edgemesh-private-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
            defer { try? FileManager.default.removeItem(at: directory) }
            let store = DirectoryStore(directory: directory.path + "/state", eventLoop: loop)
            try wait(store.save("offline-snapshot", ByteBuffer(string: "secret bytes")))
            func mode(_ path: String) throws -> Int {
                try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
            }
            #expect(try mode(directory.path + "/state") == 0o700)
            #expect(try mode(directory.path + "/state/offline-snapshot") == 0o600)
            let existing = DirectoryStore(directory: directory.path, eventLoop: loop)
            try wait(existing.save("key", ByteBuffer(string: "x")))
            #expect(try mode(directory.path) == 0o700, "an existing store directory is made private")
        }
    }

    @Test func directoryStoreReportsAnUnwritableDirectoryAsStoreFailure() throws {
        try withHost { _, loop in
            // A path under a regular file cannot be a directory, even for root.
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("edgemesh-file-\(UUID().uuidString)")
            try Data("not a directory".utf8).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }

            let store = DirectoryStore(directory: file.path + "/store", eventLoop: loop)
            let error = #expect(throws: HostError.self) {
                try wait(store.save("snapshot", ByteBuffer(string: "x")))
            }
            guard case .storeFailure(let key, let reason)? = error else {
                Issue.record("expected storeFailure, got \(String(describing: error))")
                return
            }
            #expect(key == "snapshot")
            #expect(reason.contains("mkdir"))
        }
    }

    @Test func wallClockIsCloseToRealTime() throws {
        try withHost { host, _ in
            let reference = Int64(Date().timeIntervalSince1970 * 1_000_000_000)
            let difference = abs(host.wallClock.nanosecondsSinceEpoch - reference)
            #expect(difference < 1_000_000_000, "wall clock is \(difference) ns away from Foundation's")
        }
    }

    @Test func interfacesAreSortedAndLoopbackIsASlashEight() throws {
        try withHost { host, _ in
            let interfaces = host.interfaces
            #expect(interfaces.map(\.name) == interfaces.map(\.name).sorted())
            let loopback = try #require(interfaces.first { $0.ipv4Addresses.contains(.loopback) })
            #expect(loopback.isLoopback)
            #expect(loopback.prefixLength == 8)
            #expect(interfaces.filter { !$0.ipv4Addresses.contains(where: \.isLoopback) }.allSatisfy { !$0.isLoopback })
        }
    }

    @Test func loggerCarriesTheNodeName() throws {
        try withHost { host, _ in
            #expect(host.logger[metadataKey: "node"] == "edge-1")
        }
    }

    // MARK: Helpers

    private func withHost(_ body: (LinuxHost, EventLoop) throws -> Void) throws {
        let group = LinuxEventLoops.makeGroup()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("edgemesh-linuxhost-\(UUID().uuidString)")
        let loop = group.next()
        let host = LinuxHost(
            name: "edge-1", eventLoop: loop, storeDirectory: directory.path,
            interception: NoInterception(eventLoop: loop), logger: Logger(label: "edgemesh.test"))
        defer {
            try? LinuxEventLoops.syncShutdown(group)
            try? FileManager.default.removeItem(at: directory)
        }
        try body(host, loop)
    }

    /// Waits for a real-network future, bounded: a timer on the same loop fails the wait.
    private func wait<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
        let promise = future.eventLoop.makePromise(of: T.self)
        let timeout = self.timeout
        let timer = future.eventLoop.scheduleTask(in: timeout) {
            promise.fail(WaitTimedOut(timeout: timeout))
        }
        future.whenComplete { result in
            timer.cancel()
            promise.completeWith(result)
        }
        return try promise.futureResult.wait()
    }

    private static func loopback(port: Int) -> SocketAddress {
        try! SocketAddress(ipAddress: "127.0.0.1", port: port)
    }

    private static func loopbackListen(reuse: Bool = false) -> StreamListenOptions {
        StreamListenOptions(address: loopback(port: 0), reuseAddress: reuse)
    }
}

/// These tests install no interception rules; any attempt is a test bug.
struct NoInterception: TrafficInterception {
    let eventLoop: EventLoop

    func apply(_ rules: [InterceptionRule]) -> EventLoopFuture<Void> {
        eventLoop.makeFailedFuture(HostError.unsupported("interception in LinuxHostTests"))
    }

    func removeAll() -> EventLoopFuture<Void> {
        eventLoop.makeSucceededVoidFuture()
    }
}

private struct Abandoned: Error {}

/// A test's wait gave up; distinct from any error the host maps.
private struct WaitTimedOut: Error {
    let timeout: TimeAmount
}
