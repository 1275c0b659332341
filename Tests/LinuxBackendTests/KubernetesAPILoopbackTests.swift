import Foundation
import LinuxBackend
import Logging
import Mesh
import NIOCore
import NIOPosix
@testable import Scenario
import Testing

/// The test API server and the reflector over real sockets on 127.0.0.1: the same code the
/// simulator runs, on LinuxHost. Every wait is bounded.
@Suite("KubernetesAPI over loopback")
struct KubernetesAPILoopbackTests {
    private static let timeout = TimeAmount.seconds(10)

    @Test func aReflectorFollowsTheServerOverLoopback() throws {
        let group = LinuxEventLoops.makeGroup()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("edgemesh-k8sapi-\(UUID().uuidString)")
        defer {
            try? LinuxEventLoops.syncShutdown(group)
            try? FileManager.default.removeItem(at: directory)
        }
        let loop = group.next()
        let host = LinuxHost(
            name: "edge-1", eventLoop: loop, storeDirectory: directory.path,
            interception: RefusingInterception(eventLoop: loop), logger: Logger(label: "edgemesh.test"))
        let server = KubernetesTestAPIServer(
            host: host,
            configuration: .init(address: .loopback, port: 0, bookmarkInterval: .milliseconds(200), requiredBearerToken: "t0ken"))
        let listener = try Self.wait(loop.flatSubmit { server.start() })
        let port = try #require(listener.localAddress?.port)

        // The sink runs on the loop; `converged` completes once it holds what the server holds.
        let state = try Self.wait(loop.submit { LoopbackMirror(loop: loop) })
        let reflector = try Self.wait(loop.submit {
            let client = KubernetesAPIClient(
                host: host, endpoint: KubernetesAPIEndpoint(host: "127.0.0.1", port: UInt16(port)),
                options: .init(bearerToken: "t0ken"))
            let reflector = KubernetesReflector<Service>(
                client: client, resource: .services,
                onReplace: { state.replace($0) }, onEvent: { state.apply($0) })
            try server.create(.services, json: Array(#"{"metadata":{"name":"web"},"spec":{"clusterIP":"10.96.0.5"}}"#.utf8))
            reflector.start()
            return reflector
        })
        // Changes while the reflector lists and watches: it must end with exactly these.
        try Self.wait(loop.submit {
            try server.create(.services, json: Array(#"{"metadata":{"name":"db","namespace":"data"}}"#.utf8))
            try server.update(.services, json: Array(#"{"metadata":{"name":"web"},"spec":{"clusterIP":"10.96.0.6"}}"#.utf8))
            try server.create(.services, json: Array(#"{"metadata":{"name":"cache"}}"#.utf8))
            try server.delete(.services, namespace: "data", name: "db")
            state.expected = server.objects(of: .services).map { "\($0.key)@\($0.resourceVersion)" }
            state.check()
        })
        try Self.wait(loop.flatSubmit { state.converged.futureResult })
        // The list may have caught every change before the watch was even opened: wait for it.
        try Self.wait(Self.poll(loop) { server.watchCount == 1 })
        // Cut the stream: the reflector resumes and sees a change made afterwards.
        try Self.wait(loop.submit {
            server.closeWatches()
            try server.create(.services, json: Array(#"{"metadata":{"name":"late"}}"#.utf8))
            state.expected = server.objects(of: .services).map { "\($0.key)@\($0.resourceVersion)" }
            state.converged = loop.makePromise()
            state.check()
        })
        try Self.wait(loop.flatSubmit { state.converged.futureResult })
        let status = try Self.wait(loop.submit { reflector.status })
        #expect(status.listCount == 1)
        #expect(status.reconnectCount >= 1)
        let view = try Self.wait(loop.submit { state.view })
        #expect(view == ["default/cache@4", "default/late@6", "default/web@3"])
        try Self.wait(loop.submit { reflector.stop(); server.stop() })
    }

    /// Completes once `condition` holds, checking every 10 ms on the loop.
    private static func poll(_ loop: EventLoop, _ condition: @escaping @Sendable () -> Bool) -> EventLoopFuture<Void> {
        let done = loop.makePromise(of: Void.self)
        let task = loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(10)) { _ in
            if condition() { done.succeed() }
        }
        done.futureResult.whenComplete { _ in task.cancel() }
        return done.futureResult
    }

    private static func wait<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
        let promise = future.eventLoop.makePromise(of: T.self)
        let timer = future.eventLoop.scheduleTask(in: timeout) { promise.fail(LoopbackWaitTimedOut()) }
        future.whenComplete { result in
            timer.cancel()
            promise.completeWith(result)
        }
        return try promise.futureResult.wait()
    }
}

/// Loop-confined copy of what the reflector delivered.
private final class LoopbackMirror: @unchecked Sendable {
    var versions: [ObjectKey: String] = [:]
    var expected: [String]?
    var converged: EventLoopPromise<Void>

    init(loop: EventLoop) {
        converged = loop.makePromise()
    }

    var view: [String] { versions.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" } }

    func replace(_ items: [Service]) {
        versions = Dictionary(uniqueKeysWithValues: items.map { ($0.key, $0.metadata.resourceVersion ?? "") })
        check()
    }

    func apply(_ event: KubernetesReflector<Service>.Event) {
        switch event {
        case .added(let service), .modified(let service): versions[service.key] = service.metadata.resourceVersion ?? ""
        case .deleted(let service): versions[service.key] = nil
        }
        check()
    }

    func check() {
        if let expected, view == expected { converged.succeed() }
    }
}

private struct RefusingInterception: TrafficInterception {
    let eventLoop: EventLoop

    func apply(_ rules: [InterceptionRule]) -> EventLoopFuture<Void> {
        eventLoop.makeFailedFuture(HostError.unsupported("interception in KubernetesAPILoopbackTests"))
    }

    func removeAll() -> EventLoopFuture<Void> {
        eventLoop.makeSucceededVoidFuture()
    }
}

private struct LoopbackWaitTimedOut: Error {}
