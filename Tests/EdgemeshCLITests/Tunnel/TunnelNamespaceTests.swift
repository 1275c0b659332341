import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The real tunnel on Linux: two nodes behind two nftables NAT routers and a public relay, in
/// network namespaces (`Tests/lab/tunnel-nat-lab.sh` builds and removes them). curl from one
/// node reaches a service on the other through both agents.
@Suite(.serialized) struct TunnelNamespaceTests {
    static let lab = EdgemeshProcess.packageRoot.appendingPathComponent("Tests/lab/tunnel-nat-lab.sh")

    /// Root, to build the namespaces, and the tools the lab script drives.
    static var isAvailable: Bool {
        geteuid() == 0 && ["ip", "nft", "curl", "python3"].allSatisfy { EdgemeshProcess.which($0) != nil }
    }

    static func runLab(_ mapping: String) throws -> (status: Int32, body: String?, path: String?, reason: String?, log: String) {
        let result = try EdgemeshProcess.run(executable: URL(fileURLWithPath: "/bin/bash"), [lab.path, EdgemeshProcess.binary.path, mapping])
        func value(_ key: String) -> String? {
            result.output.split(separator: "\n").first { $0.hasPrefix("\(key)=") }.map { String($0.dropFirst(key.count + 1)) }
        }
        return (result.status, value("BODY"), value("PATH"), value("REASON"), result.output + result.errors)
    }

    /// Two home routers that map endpoint-independently and drop unsolicited WAN packets: the
    /// synchronised connects cross, and the tunnel moves from the relay to the punched path.
    @Test(.enabled(if: TunnelNamespaceTests.isAvailable, "needs root, iproute2, nft, curl and python3 (scripts/install-deps)"))
    func coneNATsArePunchedThrough() throws {
        let run = try Self.runLab("cone")
        #expect(run.status == 0, "\(run.log)")
        #expect(run.body == "hello from node-b")
        #expect(run.path == "hole-punched", "\(run.log)")
    }

    @Test(.enabled(if: TunnelNamespaceTests.isAvailable, "needs root, iproute2, nft, curl and python3 (scripts/install-deps)"))
    func aSymmetricNATIsRelayedAndStillWorks() throws {
        let run = try Self.runLab("symmetric")
        #expect(run.status == 0, "\(run.log)")
        #expect(run.body == "hello from node-b")
        #expect(run.path == "relayed", "\(run.log)")
    }
}
