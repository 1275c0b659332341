import Foundation

/// A temporary directory for one agent test: `manifests/` for the agent to read and `www/` with
/// an `index.html` for a Python backend to serve. Removed by `remove()`.
struct AgentWorkspace {
    let directory: URL
    var manifests: URL { directory.appendingPathComponent("manifests") }
    var www: URL { directory.appendingPathComponent("www") }

    init(index: String) throws {
        directory = try EdgemeshProcess.temporaryDirectory()
        for folder in [manifests, www] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        try index.write(to: www.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
    }

    /// Writes `text` as the manifest file `name`.
    func addManifest(_ name: String, _ text: String) throws {
        try text.write(to: manifests.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}
