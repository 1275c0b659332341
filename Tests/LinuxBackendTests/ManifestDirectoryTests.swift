import Foundation
import LinuxBackend
import NIOCore
import NIOPosix
import Testing

@Suite struct ManifestDirectoryTests {
    func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("edgemesh-manifests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func readsOnlyManifestFilesInNameOrder() throws {
        let path = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "kind: Service".write(toFile: "\(path)/b.yaml", atomically: true, encoding: .utf8)
        try "{\"kind\":\"Pod\"}".write(toFile: "\(path)/a.json", atomically: true, encoding: .utf8)
        try "kind: Node".write(toFile: "\(path)/c.yml", atomically: true, encoding: .utf8)
        try "not a manifest".write(toFile: "\(path)/notes.txt", atomically: true, encoding: .utf8)
        try "kind: Secret".write(toFile: "\(path)/.hidden.yaml", atomically: true, encoding: .utf8)
        let contents = try ManifestDirectory(path: path).read()
        #expect(contents.sortedNames == ["a.json", "b.yaml", "c.yml"])
        #expect(contents.files["b.yaml"] == "kind: Service")
        #expect(contents.unreadable.isEmpty)
    }

    @Test func aFileThatIsNotUTF8OrNotAFileIsReportedUnreadableAndTheRestRead() throws {
        let path = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "kind: Service".write(toFile: "\(path)/good.yaml", atomically: true, encoding: .utf8)
        try Data([0x6b, 0x3a, 0xff, 0xfe]).write(to: URL(fileURLWithPath: "\(path)/latin1.yaml"))
        try FileManager.default.createDirectory(atPath: "\(path)/folder.yaml", withIntermediateDirectories: false)
        let contents = try ManifestDirectory(path: path).read()
        #expect(contents.sortedNames == ["good.yaml"])
        #expect(contents.unreadable["latin1.yaml"] == "not UTF-8 text")
        #expect(contents.unreadable["folder.yaml"]?.contains("Is a directory") == true)
    }

    @Test func aMissingDirectoryIsAnError() {
        #expect(throws: (any Error).self) { try ManifestDirectory(path: "/nonexistent/edgemesh-manifests").read() }
    }

    @Test func watchingReportsAnAddedAndARemovedFile() throws {
        let path = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "kind: Service".write(toFile: "\(path)/web.yaml", atomically: true, encoding: .utf8)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let seen = loop.makePromise(of: [String].self)
        let removed = loop.makePromise(of: [String].self)
        let directory = ManifestDirectory(path: path)
        let task = directory.watch(on: loop, every: .milliseconds(20)) { result in
            guard case .success(let contents) = result else { return }
            if contents.files.count == 2 {
                seen.succeed(contents.sortedNames)
            } else if contents.files.count == 1 {
                removed.succeed(contents.sortedNames)
            }
        }
        defer { task.cancel() }
        // Bounded: a watcher that never reports fails the test instead of hanging it.
        loop.scheduleTask(in: .seconds(10)) {
            seen.fail(ManifestWatchTimeout())
            removed.fail(ManifestWatchTimeout())
        }
        // A change right after watching starts, before the first check, is still reported.
        try "kind: Pod".write(toFile: "\(path)/pod.yaml", atomically: true, encoding: .utf8)
        #expect(try seen.futureResult.wait() == ["pod.yaml", "web.yaml"])
        try FileManager.default.removeItem(atPath: "\(path)/web.yaml")
        #expect(try removed.futureResult.wait() == ["pod.yaml"])
    }
}

struct ManifestWatchTimeout: Error {}
