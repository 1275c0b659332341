import Foundation
import Mesh
import Testing
import Yams

/// The manifests users apply (`deploy/`) must start the binary we ship: the DaemonSet's
/// arguments, its config file and its mounts are what the agent accepts, the relay starts from
/// its Deployment, and the ClusterRole grants what the agent follows.
@Suite struct DeployManifestTests {
    static let directory = EdgemeshProcess.packageRoot.appendingPathComponent("deploy")

    static func documents(_ file: String) throws -> [Yams.Node] {
        let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
        return Array(try Yams.compose_all(yaml: text))
    }

    static func object(_ kind: String, in file: String) throws -> Yams.Node {
        try #require(try documents(file).first { $0["kind"]?.string == kind }, "\(file) has no \(kind)")
    }

    /// The first container of a workload, its arguments with every mount path moved under `root`,
    /// and the mount paths so moved (mount path -> local directory).
    static func container(of workload: Yams.Node, under root: URL) throws -> (arguments: [String], mounts: [String: URL]) {
        let container = try #require(workload["spec"]?["template"]?["spec"]?["containers"]?.sequence?.first)
        var mounts: [String: URL] = [:]
        for mount in container["volumeMounts"]?.sequence ?? [] {
            let path = try #require(mount["mountPath"]?.string)
            let local = root.appendingPathComponent(try #require(mount["name"]?.string))
            try FileManager.default.createDirectory(at: local, withIntermediateDirectories: true)
            mounts[path] = local
        }
        let arguments = try #require(container["args"]?.sequence).map { node in
            var argument = node.string ?? ""
            for (path, local) in mounts.sorted(by: { $0.key.count > $1.key.count }) {
                argument = argument.replacingOccurrences(of: path, with: local.path)
            }
            return argument
        }
        return (arguments, mounts)
    }

    @Test func theAgentAcceptsTheDaemonSetsArgumentsConfigAndMounts() throws {
        let root = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let daemonSet = try Self.object("DaemonSet", in: "edgemesh-agent.yaml")
        let (arguments, mounts) = try Self.container(of: daemonSet, under: root)
        #expect(arguments.first == "agent")
        let env = try #require(daemonSet["spec"]?["template"]?["spec"]?["containers"]?.sequence?.first?["env"]?.sequence)
        #expect(env.contains { $0["name"]?.string == "NODE_NAME" && $0["valueFrom"]?["fieldRef"]?["fieldPath"]?.string == "spec.nodeName" })

        // The ConfigMap's file and the PSK Secret's key, where the kubelet would mount them.
        let configMap = try Self.object("ConfigMap", in: "edgemesh-agent.yaml")
        let config = try #require(configMap["data"]?["edgemesh-agent.yaml"]?.string)
        try config.write(to: try #require(mounts["/etc/edgemesh/config"]).appendingPathComponent("edgemesh-agent.yaml"), atomically: true, encoding: .utf8)
        try "a cluster secret\n".write(to: try #require(mounts["/etc/edgemesh/psk"]).appendingPathComponent("psk"), atomically: true, encoding: .utf8)

        let result = try EdgemeshProcess.run(arguments + ["--print-config"], environment: ["NODE_NAME": "edge-7"])
        #expect(result.status == 0, "\(result.errors)")
        for line in [
            "node: edge-7", "source: metaServer http://127.0.0.1:10550", "listen: 169.254.96.16:53",
            "state directory: \(try #require(mounts["/var/lib/edgemesh"]).path)",
            "tunnel: port 20006 on every interface but docker*,edgemesh*,tunl*,flannel*,cni*,br*,kube-ipvs*, relays [IPv4]203.0.113.5:20008",
            "edge CNI: off",
        ] {
            #expect(result.output.contains(line), "missing \"\(line)\" in:\n\(result.output)")
        }
        // The liveness probe asks the status endpoint the arguments configure.
        let probe = try #require(daemonSet["spec"]?["template"]?["spec"]?["containers"]?.sequence?.first?["livenessProbe"]?["httpGet"])
        #expect(arguments.contains("--status-address=\(probe["host"]?.string ?? ""):\(probe["port"]?.int ?? 0)"))
        #expect(probe["path"]?.string == "/status")
    }

    /// What the ClusterRole in `file` grants: verbs by `group/resource`.
    static func granted(by file: String) throws -> [String: Set<String>] {
        let role = try object("ClusterRole", in: file)
        let rules = try #require(role["rules"]?.sequence)
        var granted: [String: Set<String>] = [:]
        for rule in rules {
            let verbs = Set(rule["verbs"]?.sequence?.compactMap(\.string) ?? [])
            for group in rule["apiGroups"]?.sequence?.compactMap(\.string) ?? [] {
                for resource in rule["resources"]?.sequence?.compactMap(\.string) ?? [] {
                    granted["\(group)/\(resource)", default: []].formUnion(verbs)
                }
            }
        }
        return granted
    }

    /// What an agent following `kinds` uses: list and watch of each, and patch of its Node.
    static func required(following kinds: [TableObjectKind]) -> [String: Set<String>] {
        var required: [String: Set<String>] = [:]
        for kind in kinds {
            let resource: KubernetesResource = switch kind {
            case .service: .services
            case .endpoints: .endpoints
            case .endpointSlice: .endpointSlices
            case .pod: .pods
            case .node: .nodes
            case .secret: .secrets
            case .destinationRule: .destinationRules
            case .virtualService: .virtualServices
            case .gateway: .gateways
            }
            required[resource.storageKey, default: []].formUnion(["list", "watch"])
        }
        required[NodeAnnotationPublisher.resource.storageKey, default: []].insert(NodeAnnotationPublisher.requiredVerb)
        return required
    }

    /// Exactly what the agent does, no more: list and watch of every kind it follows, and patch
    /// of nodes for its tunnel key. A verb the agent stops using must leave the role too.
    @Test func theClusterRoleGrantsWhatTheAgentDoesAndNothingElse() throws {
        let granted = try Self.granted(by: "edgemesh-agent.yaml")
        let required = Self.required(following: KubernetesAPISource.Options().kinds)
        for key in Set(granted.keys).union(required.keys).sorted() {
            #expect(granted[key] == required[key], "\(key): the role grants \(granted[key]?.sorted() ?? []), the agent uses \(required[key]?.sorted() ?? [])")
        }
        #expect(granted["/secrets"] == nil, "agents follow no Secrets, so they may read none")
        #expect(granted["/nodes"]?.contains("patch") == true, "each agent publishes its tunnel key on its Node")
    }

    /// RBAC grants patch on every Node; the admission policy narrows it to the Node the agent's
    /// pod runs on (the node name its service-account token carries), and to the key annotation.
    @Test func anAgentMayPatchOnlyItsOwnNodesTunnelKey() throws {
        let policy = try Self.object("ValidatingAdmissionPolicy", in: "edgemesh-agent.yaml")
        let spec = try #require(policy["spec"])
        #expect(spec["failurePolicy"]?.string == "Fail")
        let rule = try #require(spec["matchConstraints"]?["resourceRules"]?.sequence?.first)
        #expect(rule["resources"]?.sequence?.compactMap(\.string) == ["nodes"])
        #expect(rule["operations"]?.sequence?.compactMap(\.string) == ["UPDATE"], "a patch is admitted as an UPDATE")
        // It applies to the service accounts of both DaemonSets that patch Nodes.
        let matched = try #require(spec["matchConditions"]?.sequence?.first?["expression"]?.string)
        for file in ["edgemesh-agent.yaml", "edgemesh-gateway.yaml"] {
            let account = try #require(try Self.object("ServiceAccount", in: file)["metadata"])
            let user = "system:serviceaccount:\(account["namespace"]?.string ?? ""):\(account["name"]?.string ?? "")"
            #expect(matched.contains("'\(user)'"), "\(file)'s \(user) is held to its own Node")
        }
        let variables = try #require(spec["variables"]?.sequence).compactMap { $0["expression"]?.string }.joined(separator: "\n")
        #expect(variables.contains("request.userInfo.extra['authentication.kubernetes.io/node-name'][0]"))
        #expect(variables.contains("'\(tunnelPublicKeyAnnotation)'"), "the annotation the agent publishes")
        #expect(variables.contains("'\(PodNetworkMap.annotation)'"), "the pod network the agent pins with the edge CNI")
        let validations = try #require(spec["validations"]?.sequence).compactMap { $0["expression"]?.string }
        #expect(validations.contains("variables.podNode == object.metadata.name"))
        #expect(validations.contains { $0.contains("object.spec == oldObject.spec") })
        let binding = try Self.object("ValidatingAdmissionPolicyBinding", in: "edgemesh-agent.yaml")
        #expect(binding["spec"]?["policyName"]?.string == policy["metadata"]?["name"]?.string)
        #expect(binding["spec"]?["validationActions"]?.sequence?.compactMap(\.string) == ["Deny"])
    }

    static let unreachableAPIServerKubeconfig = """
        apiVersion: v1
        kind: Config
        clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
        users: [{name: u, user: {token: t}}]
        contexts: [{name: x, context: {cluster: c, user: u}}]
        current-context: x
        """

    @Test func theRelaysRoleListsAndWatchesNodesOnly() throws {
        let role = try Self.object("ClusterRole", in: "edgemesh-relay.yaml")
        let rules = try #require(role["rules"]?.sequence)
        #expect(rules.count == 1)
        #expect(rules.first?["resources"]?.sequence?.compactMap(\.string) == ["nodes"])
        #expect(rules.first?["verbs"]?.sequence?.compactMap(\.string).sorted() == ["list", "watch"])
        let deployment = try Self.object("Deployment", in: "edgemesh-relay.yaml")
        #expect(deployment["spec"]?["template"]?["spec"]?["serviceAccountName"]?.string == "edgemesh-relay")
    }

    /// The agent and the relay as the kubelet would start them, in a namespace of their own:
    /// the agent serves its status (the liveness probe) and DNS, the relay listens.
    @Test(.enabled(if: NamespaceTestBed.isAvailable(), "needs root, iproute2, python3, curl and nft (scripts/install-deps)"))
    func theAgentAndTheRelayStartFromTheirManifests() throws {
        let root = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let namespace = try NamespaceTestBed()
        defer { namespace.tearDown() }
        let (agentArguments, agentMounts) = try Self.container(of: try Self.object("DaemonSet", in: "edgemesh-agent.yaml"), under: root.appendingPathComponent("agent"))
        let config = try #require(try Self.object("ConfigMap", in: "edgemesh-agent.yaml")["data"]?["edgemesh-agent.yaml"]?.string)
        try config.write(to: try #require(agentMounts["/etc/edgemesh/config"]).appendingPathComponent("edgemesh-agent.yaml"), atomically: true, encoding: .utf8)
        var (relayArguments, relayMounts) = try Self.container(of: try Self.object("Deployment", in: "edgemesh-relay.yaml"), under: root.appendingPathComponent("relay"))
        // The kubelet gives the pod its service account; here a kubeconfig for an API server
        // that is not there stands in (the relay listens, and refuses names until it lists Nodes).
        let kubeconfig = root.appendingPathComponent("kubeconfig")
        try Self.unreachableAPIServerKubeconfig.write(to: kubeconfig, atomically: true, encoding: .utf8)
        #expect(relayArguments.contains("--in-cluster"), "the relay binds names to their Nodes' keys")
        relayArguments = relayArguments.map { $0 == "--in-cluster" ? "--kubeconfig=\(kubeconfig.path)" : $0 }
        for psk in [agentMounts["/etc/edgemesh/psk"], relayMounts["/etc/edgemesh/psk"]] {
            try "a cluster secret\n".write(to: try #require(psk).appendingPathComponent("psk"), atomically: true, encoding: .utf8)
        }

        try namespace.start(["/usr/bin/env", "NODE_NAME=edge-7", EdgemeshProcess.binary.path] + agentArguments, log: root.appendingPathComponent("agent.log"))
        try namespace.start([EdgemeshProcess.binary.path] + relayArguments, log: root.appendingPathComponent("relay.log"))
        #expect(NamespaceTestBed.eventually {
            (try? namespace.run(["/usr/bin/curl", "-sf", "--max-time", "2", "http://127.0.0.1:10551/status"]))?.status == 0
        }, "the liveness probe's URL answers")
        #expect(NamespaceTestBed.eventually(within: 10) {
            let listening = (try? namespace.run(["/usr/bin/ss", "-Hltn"]))?.output ?? ""
            return listening.contains("0.0.0.0:20008") && listening.contains("169.254.96.16:53")
        }, "the relay listens on 20008 and the agent's DNS on 169.254.96.16:53")
    }
}
