import Foundation

/// Files of this repository the tests read, found from this file's path so that no test
/// depends on the working directory.
enum RepositoryFiles {
    /// `Scenarios/` at the package root.
    static let scenarios = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Scenarios").path
}

extension RepositoryFiles {
    /// A ServiceList as a KubeEdge metaServer returns it (`Fixtures/metaserver-services.json`).
    static let metaServerServiceList = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().appendingPathComponent("metaserver-services.json")
}
