import ArgumentParser
import Mesh

@main
struct EdgeMeshCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgemesh",
        abstract: "An edge service mesh: service discovery, DNS, proxy and tunnel for edge nodes.",
        version: MeshModule.version,
        subcommands: []
    )
}
