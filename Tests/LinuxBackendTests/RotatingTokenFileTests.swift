import Foundation
import Testing

@testable import LinuxBackend

/// The token file as the kubelet rotates it: re-read once a minute, a failed or empty read
/// keeps the last good token.
@Suite struct RotatingTokenFileTests {
    final class Clock: @unchecked Sendable {
        var now = Date(timeIntervalSince1970: 1_800_000_000)
    }

    @Test func aRewrittenTokenIsPickedUpAfterTheRefreshIntervalAndAGoneFileKeepsTheLastOne() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("edgemesh-token-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "one\n".write(toFile: path, atomically: true, encoding: .utf8)
        let clock = Clock()
        let file = RotatingTokenFile(path: path, initial: "one", refreshInterval: 60, clock: { clock.now })
        try "two\n".write(toFile: path, atomically: true, encoding: .utf8)
        clock.now += 30
        #expect(file.current() == "one", "not read again within the interval")
        clock.now += 31
        #expect(file.current() == "two")
        try "".write(toFile: path, atomically: true, encoding: .utf8)
        clock.now += 61
        #expect(file.current() == "two", "an empty file (a rewrite caught half-way) keeps the last token")
        try FileManager.default.removeItem(atPath: path)
        clock.now += 61
        #expect(file.current() == "two")
    }
}
