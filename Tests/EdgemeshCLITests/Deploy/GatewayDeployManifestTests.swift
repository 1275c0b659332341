import Foundation
import Mesh
import Testing
import Yams

/// `deploy/edgemesh-gateway.yaml`: the agent with `--gateway` on the nodes labelled for it, with
/// a role that adds Secrets to the agent's, and the plain agent kept off those nodes.
@Suite struct GatewayDeployManifestTests {
    typealias Manifests = DeployManifestTests

    @Test func theGatewayStartsFromItsDaemonSetWithTheAgentsConfig() throws {
        let root = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let daemonSet = try Manifests.object("DaemonSet", in: "edgemesh-gateway.yaml")
        let (arguments, mounts) = try Manifests.container(of: daemonSet, under: root)
        #expect(Array(arguments.prefix(2)) == ["agent", "--gateway"])
        let config = try #require(try Manifests.object("ConfigMap", in: "edgemesh-agent.yaml")["data"]?["edgemesh-agent.yaml"]?.string)
        try config.write(to: try #require(mounts["/etc/edgemesh/config"]).appendingPathComponent("edgemesh-agent.yaml"), atomically: true, encoding: .utf8)
        try "a cluster secret\n".write(to: try #require(mounts["/etc/edgemesh/psk"]).appendingPathComponent("psk"), atomically: true, encoding: .utf8)
        let result = try EdgemeshProcess.run(arguments + ["--print-config"], environment: ["NODE_NAME": "gw-1"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.contains("gateway: on every address, labels kubeedge=edgemesh-gateway"), "\(result.output)")
    }

    @Test func theGatewaysRoleGrantsWhatAGatewayFollows() throws {
        let granted = try Manifests.granted(by: "edgemesh-gateway.yaml")
        let required = Manifests.required(
            following: EdgeAgent.followedKinds(KubernetesAPISource.Options().kinds, gateway: true))
        for key in Set(granted.keys).union(required.keys).sorted() {
            #expect(granted[key] == required[key], "\(key): the role grants \(granted[key]?.sorted() ?? []), the gateway uses \(required[key]?.sorted() ?? [])")
        }
        #expect(granted["/secrets"] == ["list", "watch"], "a gateway reads its servers' certificates")
    }

    @Test func labelledNodesRunTheGatewayAndNoPlainAgent() throws {
        let gatewayPod = try #require(try Manifests.object("DaemonSet", in: "edgemesh-gateway.yaml")["spec"]?["template"]?["spec"])
        #expect(gatewayPod["nodeSelector"]?["edgemesh.io/gateway"]?.string == "true")
        let agentPod = try #require(try Manifests.object("DaemonSet", in: "edgemesh-agent.yaml")["spec"]?["template"]?["spec"])
        let terms = agentPod["affinity"]?["nodeAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?["nodeSelectorTerms"]?.sequence ?? []
        let expressions: [Yams.Node] = terms.flatMap { $0["matchExpressions"]?.sequence ?? [] }
        let excluded = expressions.contains { (expression: Yams.Node) -> Bool in
            let values: [String] = expression["values"]?.sequence?.compactMap(\.string) ?? []
            return expression["key"]?.string == "edgemesh.io/gateway" && expression["operator"]?.string == "NotIn" && values == ["true"]
        }
        #expect(excluded, "two agents on one node would fight over its nftables table, DNS address and tunnel port")
    }
}
