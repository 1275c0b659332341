import Foundation
import Testing

/// `edgemesh agent --config edgemesh-agent.yaml`: EdgeMesh's file is understood, flags win over
/// it, and a bad value is reported by its field name. Checked through `--print-config`, which
/// prints the settings the agent would run with.
@Suite struct AgentConfigTests {
    static func withFiles(_ files: [String: String], _ body: (URL) throws -> Void) throws {
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, text) in files {
            try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        try body(directory)
    }

    /// An EdgeMesh v1.14-style file, with sections this agent does not have (ignored).
    static let edgeMeshFile = """
        apiVersion: agent.edgemesh.config.kubeedge.io/v1alpha1
        kind: EdgeMeshAgent
        kubeAPIConfig:
          master: https://10.0.0.1:6443
          qps: 50
        commonConfig:
          bridgeDeviceName: mesh7
          bridgeDeviceIP: 169.254.77.7
        goChassisConfig:
          loadBalancer: {defaultLBStrategy: RoundRobin}
        modules:
          edgeDNS:
            enable: true
            listenPort: 5353
            cacheDNS:
              enable: true
              autoDetect: true
              upstreamServers: [9.9.9.9, "1.1.1.1:5300"]
              cacheTTL: 20
          edgeProxy:
            enable: true
        """

    @Test func anEdgeMeshAgentFileSetsTheSourceAddressPortDeviceAndUpstreams() throws {
        try Self.withFiles(["edgemesh-agent.yaml": Self.edgeMeshFile]) { directory in
            let result = try EdgemeshProcess.run([
                "agent", "--node-name", "edge-1", "--config", directory.appendingPathComponent("edgemesh-agent.yaml").path, "--print-config",
            ])
            #expect(result.status == 0, "\(result.errors)")
            #expect(result.output.contains("source: master https://10.0.0.1:6443 (qps 50.0, burst 200)"), "\(result.output)")
            #expect(result.output.contains("listen: 169.254.77.7:5353"))
            #expect(result.output.contains("device: mesh7"))
            #expect(result.output.contains("upstream DNS: 9.9.9.9:53, 1.1.1.1:5300 from config file, answers cached up to 20 s"))
        }
    }

    @Test func flagsWinOverTheFile() throws {
        try Self.withFiles(["agent.yaml": Self.edgeMeshFile]) { directory in
            let result = try EdgemeshProcess.run([
                "agent", "--node-name", "edge-1", "--config", directory.appendingPathComponent("agent.yaml").path,
                "--listen-ip", "127.0.0.1", "--dns-port", "1053", "--upstream-dns", "8.8.8.8", "--manifests", directory.path,
                "--print-config",
            ])
            #expect(result.status == 0, "\(result.errors)")
            #expect(result.output.contains("source: manifests \(directory.path)"), "\(result.output)")
            #expect(result.output.contains("listen: 127.0.0.1:1053"))
            #expect(result.output.contains("device: none"), "127.0.0.1 is already on lo: no device is made")
            #expect(result.output.contains("upstream DNS: 8.8.8.8:53 from flags"))
        }
    }

    @Test func withoutConfiguredUpstreamsTheNodesResolversAreUsedButNeverTheAgentItself() throws {
        let resolv = "search cluster.local\nnameserver 169.254.96.16\nnameserver 10.20.30.40\n"
        try Self.withFiles(["resolv.conf": resolv]) { directory in
            let result = try EdgemeshProcess.run([
                "agent", "--node-name", "edge-1", "--manifests", directory.path,
                "--resolv-conf", directory.appendingPathComponent("resolv.conf").path, "--print-config",
            ])
            #expect(result.status == 0, "\(result.errors)")
            #expect(result.output.contains("upstream DNS: 10.20.30.40:53 from \(directory.appendingPathComponent("resolv.conf").path)"), "\(result.output)")
            #expect(result.output.contains("source: manifests"))
        }
    }

    @Test func noSourceMeansEdgeModeThroughTheMetaServer() throws {
        let result = try EdgemeshProcess.run(["agent", "--node-name", "edge-1", "--print-config"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.contains("source: metaServer http://127.0.0.1:10550"), "\(result.output)")
        #expect(result.output.contains("listen: 169.254.96.16:53"))
    }

    @Test(arguments: [
        ("modules:\n  edgeDNS:\n    listenPort: seventy\n", "modules.edgeDNS.listenPort"),
        ("modules:\n  edgeDNS:\n    cacheDNS:\n      upstreamServers: [1.1.1.1, dns.google]\n", "modules.edgeDNS.cacheDNS.upstreamServers[1]"),
        ("commonConfig:\n  bridgeDeviceIP: 169.254.96\n", "commonConfig.bridgeDeviceIP"),
        ("modules:\n  edgeDNS:\n    cacheDNS:\n      cacheTTL: 0\n", "modules.edgeDNS.cacheDNS.cacheTTL"),
        ("modules:\n  edgeDNS:\n    cacheDNS:\n      cacheTTL: 30s\n", "modules.edgeDNS.cacheDNS.cacheTTL"),
        ("kubeAPIConfig:\n  qps: -1\n", "qps"),
        ("kubeAPIConfig:\n  master: ftp://x\n", "master"),
        ("modules: [\n", "not YAML"),
        ("modules:\n  edgeCNI:\n    meshCIDRConfig: {edgeCIDR: [10.244.0.0/33]}\n", "modules.edgeCNI.meshCIDRConfig.edgeCIDR"),
        ("modules:\n  edgeCNI:\n    enable: yes please\n", "modules.edgeCNI.enable"),
        ("modules:\n  edgeCNI:\n    nodeCIDRMaskSize: 31\n", "modules.edgeCNI.nodeCIDRMaskSize"),
        ("modules:\n  edgeTunnel:\n    enableHolePunch: sometimes\n", "modules.edgeTunnel.enableHolePunch"),
    ])
    func aBadValueIsReportedByItsFieldAndTheAgentDoesNotStart(file: String, field: String) throws {
        try Self.withFiles(["agent.yaml": file]) { directory in
            let path = directory.appendingPathComponent("agent.yaml").path
            let result = try EdgemeshProcess.run(["agent", "--node-name", "edge-1", "--config", path, "--print-config"])
            #expect(result.status != 0)
            #expect(result.errors.contains(field), "\(result.errors)")
            #expect(result.errors.contains(path), "the message names the file: \(result.errors)")
        }
    }

    /// EdgeMesh's `edgeCNI` section (off by default, as there); its pools as a list or as one
    /// comma string, as EdgeMesh's own examples write them; flags win.
    @Test func theEdgeCNIIsOffByDefaultAndReadFromTheFileOrFlags() throws {
        let off = try EdgemeshProcess.run(["agent", "--node-name", "edge-1", "--print-config"])
        #expect(off.output.contains("edge CNI: off"), "\(off.output)")
        let file = """
            modules:
              edgeCNI:
                enable: true
                meshCIDRConfig:
                  cloudCIDR: [10.244.36.0/24]
                  edgeCIDR: 10.244.13.0/24,10.244.16.0/20
            """
        try Self.withFiles(["agent.yaml": file]) { directory in
            let path = directory.appendingPathComponent("agent.yaml").path
            let fromFile = try EdgemeshProcess.run(["agent", "--node-name", "edge-1", "--config", path, "--print-config"])
            #expect(fromFile.output.contains(
                "edge CNI: on; cloudCIDR 10.244.36.0/24, edgeCIDR 10.244.13.0/24,10.244.16.0/20, a /24 per node"), "\(fromFile.output)")
            let flags = try EdgemeshProcess.run([
                "agent", "--node-name", "edge-1", "--config", path, "--edge-cidr", "10.250.0.0/16", "--node-cidr-mask-size", "26", "--print-config",
            ])
            #expect(flags.output.contains("edge CNI: on; cloudCIDR 10.244.36.0/24, edgeCIDR 10.250.0.0/16, a /26 per node"), "\(flags.output)")
        }
        let orphan = try EdgemeshProcess.run(["agent", "--node-name", "edge-1", "--edge-cidr", "10.250.0.0/16", "--print-config"])
        #expect(orphan.status != 0 && orphan.errors.contains("need --edge-cni"), "\(orphan.errors)")
        let narrow = try EdgemeshProcess.run(["agent", "--node-name", "edge-1", "--edge-cni", "--edge-cidr", "10.250.0.0/25", "--print-config"])
        #expect(narrow.status != 0 && narrow.errors.contains("10.250.0.0/25 is smaller than one /24 node block"), "\(narrow.errors)")
    }

    /// EdgeMesh's `edgeTunnel.enableHolePunch` (on by default, as there).
    @Test func holePunchingIsOnUnlessTheFileTurnsItOff() throws {
        try Self.withFiles(["psk": "a cluster secret of enough bytes\n", "agent.yaml": "modules:\n  edgeTunnel:\n    enableHolePunch: false\n"]) { directory in
            let psk = directory.appendingPathComponent("psk").path
            let on = try EdgemeshProcess.run(["agent", "--node-name", "edge-1", "--psk-file", psk, "--print-config"])
            #expect(on.status == 0, "\(on.errors)")
            #expect(on.output.contains("tunnel: port 20006") && !on.output.contains("hole punching off"), "\(on.output)")
            let off = try EdgemeshProcess.run([
                "agent", "--node-name", "edge-1", "--psk-file", psk, "--config", directory.appendingPathComponent("agent.yaml").path,
                "--print-config",
            ])
            #expect(off.output.contains("hole punching off"), "\(off.output)")
        }
    }

    @Test func twoSourcesAtOnceAreRefused() throws {
        let result = try EdgemeshProcess.run([
            "agent", "--node-name", "edge-1", "--manifests", "/tmp", "--kubeconfig", "/root/.kube/config", "--print-config",
        ])
        #expect(result.status != 0)
        #expect(result.errors.contains("--manifests and --kubeconfig"), "\(result.errors)")
    }
}
