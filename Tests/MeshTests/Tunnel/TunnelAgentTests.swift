import Mesh
@testable import Scenario
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// The tunnel as the agent runs it: peers' keys and addresses come from the Node objects in the
/// agent's service table, as the API server (or manifests) deliver them.
@Suite struct TunnelAgentTests {
    static let s = Nanoseconds.second

    static func nodeManifest(_ name: String, address: IPv4Address, key: String, podCIDR: IPv4Prefix? = nil) -> String {
        """
        apiVersion: v1
        kind: Node
        metadata:
          name: \(name)
          annotations:
            \(tunnelPublicKeyAnnotation): "\(key)"
        spec: {\(podCIDR.map { "podCIDR: \($0)" } ?? "")}
        status:
          addresses:
          - type: InternalIP
            address: \(address)
        """
    }

    /// A Service with one endpoint, `endpoint`:8080 on `node`, as the cluster would hand it out.
    static func serviceManifest(_ name: String, clusterIP: String, endpoint: IPv4Address, node: String) -> String {
        """
        apiVersion: v1
        kind: Service
        metadata: {name: \(name), namespace: default}
        spec: {clusterIP: \(clusterIP), ports: [{port: 80, targetPort: 8080}]}
        ---
        apiVersion: v1
        kind: Endpoints
        metadata: {name: \(name), namespace: default}
        subsets: [{addresses: [{ip: \(endpoint), nodeName: \(node)}], ports: [{port: 8080}]}]
        """
    }

    @Test func agentsReachEachOtherThroughTheNodeObjectsTheyPublished() throws {
        let sim = try Simulator(
            seed: 3,
            topology: TopologySpec(
                networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/24")!)],
                nodes: [.init(name: "edge-1", network: "lan"), .init(name: "edge-2", network: "lan")]))
        var agents: [String: EdgeAgent] = [:]
        for name in ["edge-1", "edge-2"] {
            let host = sim.host(named: name)!
            // No LAN beacon: the Node objects alone must be enough.
            let tunnel = TunnelConfiguration(presharedKey: try TunnelPresharedKey(secret: "psk"), lanDiscovery: false)
            let agent = try EdgeAgent(host: host, configuration: .init(nodeName: name, listenAddress: host.address, tunnel: tunnel))
            agents[name] = agent
            _ = agent.start()
        }
        sim.run(for: Self.s)
        // What the API server would hand every agent once each published its key.
        var manifests: [String: String] = [:]
        for name in ["edge-1", "edge-2"] {
            let key = try #require(agents[name]?.tunnel?.identity?.publicKeyText)
            manifests["\(name).yaml"] = Self.nodeManifest(name, address: sim.host(named: name)!.address, key: key)
        }
        let b = sim.host(named: "edge-2")!
        // The far agent dials only endpoints of services it knows on its node.
        manifests["echo.yaml"] = Self.serviceManifest("echo", clusterIP: "10.96.0.21", endpoint: b.address, node: "edge-2")
        for agent in agents.values.sorted(by: { $0.host.name < $1.host.name }) {
            #expect(agent.applyManifests(manifests).isEmpty)
        }
        let recorder = StreamRecorder()
        TCPEchoServerWorkload.start(on: b, port: 8080)
        let tunnel = try #require(agents["edge-1"]?.tunnel)
        var opened: Channel?
        tunnel.openStream(to: TunnelTarget(node: "edge-2", address: b.address, port: 8080, transport: .tcp), on: tunnel.host.eventLoop)
            .whenSuccess { channel in
                opened = channel
                _ = channel.pipeline.addHandler(recorder)
                channel.writeAndFlush(ByteBuffer(string: "via the agent"), promise: nil)
            }
        _ = sim.run(until: sim.now + 10 * Self.s) { recorder.byteCount < 13 }
        #expect(opened != nil)
        #expect(recorder.bytes == ByteBuffer(string: "via the agent"))
        #expect(tunnel.peerStatuses().map(\.path) == [.direct])
        // Stop the agents so no timer is left holding a promise when the simulation goes away.
        var stopped = 0
        for agent in agents.values { agent.stop().whenComplete { _ in stopped += 1 } }
        _ = sim.run(until: sim.now + 10 * Self.s) { stopped < 2 }
        #expect(stopped == 2)
        // Let connection teardown timers (TCP FIN-wait) run out too.
        sim.run(for: 120 * Self.s)
    }
}
