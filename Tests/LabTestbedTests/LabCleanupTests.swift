import Foundation
import Testing

@testable import LabTestbed

@Suite("lab cleanup: a run removes what it made, and what a crashed run left, and nothing else",
       .enabled(if: LabMachine.canRun, LabMachine.reason))
struct LabCleanupTests {
    @Test("leftovers of a runner that died are removed; a namespace it did not list stays")
    func leftoversOfADeadRunner() throws {
        // A run whose owner is gone: a pid no process has, one listed namespace.
        let run = "emlab999999-1"
        let directory = "\(LabNames.rootDirectory)/\(run)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "999999\n".write(toFile: "\(directory)/owner", atomically: true, encoding: .utf8)
        try "\(run)-node\n".write(toFile: "\(directory)/namespaces", atomically: true, encoding: .utf8)
        try LabShell.run(["ip", "netns", "add", "\(run)-node"])
        // Not listed by the run, though named like it: not the lab's to remove.
        try LabShell.run(["ip", "netns", "add", "\(run)-stranger"])
        defer { _ = try? LabShell.run(["ip", "netns", "del", "\(run)-stranger"]) }

        let removed = LabNames.removeLeftovers()

        #expect(removed.contains(run))
        let namespaces = try LabShell.run(["ip", "netns", "list"])
        #expect(!namespaces.contains("\(run)-node"))
        #expect(namespaces.contains("\(run)-stranger"))
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test("a run of this very process is not a leftover: runs side by side keep their namespaces")
    func concurrentRunIsNotALeftover() throws {
        let names = try LabNames()
        defer { names.removeAll(keepFiles: false) }
        let namespace = try names.makeNamespace("\(names.runID)-busy")
        let removed = LabNames.removeLeftovers()
        #expect(!removed.contains(names.runID))
        #expect(try LabShell.run(["ip", "netns", "list"]).contains(namespace))
    }

    @Test("a run's namespaces and directory are gone when it is cleaned up")
    func runRemovesItsOwn() throws {
        let names = try LabNames()
        let namespace = try names.makeNamespace("\(names.runID)-solo")
        #expect(try LabShell.run(["ip", "netns", "list"]).contains(namespace))
        names.removeAll(keepFiles: false)
        #expect(!(try LabShell.run(["ip", "netns", "list"])).contains(namespace))
        #expect(!FileManager.default.fileExists(atPath: names.directory))
    }
}
