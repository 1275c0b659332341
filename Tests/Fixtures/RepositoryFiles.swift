import Foundation

/// Files of this repository the tests read, found from this file's path so that no test
/// depends on the working directory.
public enum RepositoryFiles {
    /// `Scenarios/` at the package root.
    public static let scenarios = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Scenarios").path

    /// A ServiceList as a KubeEdge metaServer returns it (`metaserver-services.json` beside this file).
    public static let metaServerServiceList = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().appendingPathComponent("metaserver-services.json")

    /// The package root.
    public static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The built `edgemesh` binary: beside the test bundle (SwiftPM builds it for test targets
    /// that depend on it), else in `.build/debug`.
    public static let edgemeshBinary: URL = {
        let beside = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("edgemesh")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return packageRoot.appendingPathComponent(".build/debug/edgemesh")
    }()
}
