import Foundation
import Testing

/// `edgemesh agent --socks5`: curl, a real SOCKS5 client, reaches a node's port by the node's
/// name (`--socks5-hostname`, so the name goes to the proxy), with credentials; a port off the
/// list and a client without credentials are refused.
@Suite(.serialized) struct AgentSocks5Tests {
    typealias Namespace = NamespaceTestBed

    static let node = """
        apiVersion: v1
        kind: Node
        metadata: {name: node-a}
        status: {addresses: [{type: InternalIP, address: \(Namespace.podAddress)}]}
        """

    static func curl(_ namespace: Namespace, _ url: String, user: String?) throws -> (status: Int32, output: String) {
        var arguments = ["/usr/bin/curl", "-sS", "--max-time", "3", "--socks5-hostname", "\(Namespace.agentAddress):10800"]
        if let user { arguments += ["--proxy-user", user] }
        let result = try namespace.run(["/bin/sh", "-c", (arguments + [url]).joined(separator: " ") + " 2>&1"])
        return (result.status, result.output)
    }

    @Test(.enabled(if: Namespace.isAvailable(), "needs root, iproute2, curl, nft and python3 (scripts/install-deps)"))
    func reachesANodePortByNameWithCredentialsAndRefusesTheRest() throws {
        let namespace = try Namespace()
        defer { namespace.tearDown() }
        let workspace = try AgentWorkspace(index: "the node's own server\n")
        defer { workspace.remove() }
        let directory = workspace.directory, manifests = workspace.manifests, www = workspace.www
        try workspace.addManifest("node.yaml", Self.node)
        let psk = directory.appendingPathComponent("psk"), credentials = directory.appendingPathComponent("socks5-credentials")
        try Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString().write(to: psk, atomically: true, encoding: .utf8)
        try "ops:s3cret\n".write(to: credentials, atomically: true, encoding: .utf8)

        try namespace.start([Namespace.python, "-m", "http.server", "8080", "--bind", Namespace.podAddress, "--directory", www.path])
        try namespace.start(
            [
                EdgemeshProcess.binary.path, "agent", "--node-name", "node-a", "--manifests", manifests.path,
                "--state-dir", directory.appendingPathComponent("state").path, "--psk-file", psk.path,
                "--socks5", "--socks5-allowed-port", "8080", "--socks5-credentials", credentials.path,
            ], log: directory.appendingPathComponent("agent.log"))

        #expect(Namespace.eventually { (try? Self.curl(namespace, "http://node-a:8080/", user: "ops:s3cret"))?.output == "the node's own server\n" },
                "curl through the proxy reaches node-a's port 8080 by the node's name")
        let anonymous = try Self.curl(namespace, "http://node-a:8080/", user: nil)
        #expect(anonymous.status != 0 && !anonymous.output.contains("the node's own server"), "no credentials: \(anonymous.output)")
        let wrongPort = try Self.curl(namespace, "http://node-a:8081/", user: "ops:s3cret")
        #expect(wrongPort.status != 0 && wrongPort.output.hasSuffix("(2)\n"), "a port off the list: reply 2, not allowed by the ruleset: \(wrongPort.output)")
        let unknown = try Self.curl(namespace, "http://node-z:8080/", user: "ops:s3cret")
        #expect(unknown.status != 0 && unknown.output.hasSuffix("(4)\n"), "an unknown node: reply 4, host unreachable: \(unknown.output)")

        let flows = try namespace.run([EdgemeshProcess.binary.path, "flows"])
        #expect(flows.output.contains(" socks5 node node-a ") && flows.output.contains("-> \(Namespace.podAddress):8080 on node-a: local"),
                "each connected session is listed with the proxy's flows: \(flows.output)")
        let status = try namespace.run([EdgemeshProcess.binary.path, "status"])
        #expect(status.output.contains("socks5 on \(Namespace.agentAddress):10800 to node ports 8080 (credentials required)"), "\(status.output)")
        #expect(status.output.contains("1 not allowed") && status.output.contains("1 host unreachable"), "\(status.output)")
    }
}
