import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim
@testable import Scenario

/// What a peer holding the cluster PSK can make another node's agent dial through the tunnel:
/// only endpoints of services it knows on that node. Never loopback (the metaServer on
/// 127.0.0.1:10550, the agent's own status port), link-local, the agent's own ports, another
/// host of the node's LAN, or a port no service names; each refusal is a `notAllowed` failure
/// that says why.
@Suite struct TunnelTargetPolicyTests {
    static let s = Nanoseconds.second

    /// Two agents on one LAN; `web` is a service with one endpoint, edge-2's address port 8080,
    /// and an echo listens on edge-2 on 8080 and 9090 (9090 belongs to no service). A third
    /// host on the LAN runs an echo on 8080 too.
    final class Bed {
        let sim: Simulator
        var agents: [String: EdgeAgent] = [:]

        init() throws {
            sim = try Simulator(
                seed: 3,
                topology: TopologySpec(
                    networks: [.init(name: "lan", subnet: IPv4Prefix("10.0.0.0/24")!)],
                    nodes: ["edge-1", "edge-2", "printer"].map { .init(name: $0, network: "lan") }))
            for name in ["edge-1", "edge-2"] {
                let host = sim.host(named: name)!
                let tunnel = TunnelConfiguration(presharedKey: try TunnelPresharedKey(secret: "psk"), lanDiscovery: false)
                let agent = try EdgeAgent(
                    host: host, configuration: .init(nodeName: name, listenAddress: host.address, tunnel: tunnel))
                agents[name] = agent
                _ = agent.start()
            }
            sim.run(for: Self.s)
            let b = sim.host(named: "edge-2")!
            var manifests: [String: String] = [:]
            for name in ["edge-1", "edge-2"] {
                let key = try #require(agents[name]?.tunnel?.identity?.publicKeyText)
                manifests["\(name).yaml"] = TunnelAgentTests.nodeManifest(name, address: sim.host(named: name)!.address, key: key)
            }
            manifests["web.yaml"] = TunnelAgentTests.serviceManifest("web", clusterIP: "10.96.0.20", endpoint: b.address, node: "edge-2")
            for agent in agents.values.sorted(by: { $0.host.name < $1.host.name }) {
                #expect(agent.applyManifests(manifests).isEmpty)
            }
            for port: UInt16 in [8080, 9090] { TCPEchoServerWorkload.start(on: b, port: port) }
            UDPEchoServerWorkload.start(on: b, port: 8080)
            TCPEchoServerWorkload.start(on: sim.host(named: "printer")!, port: 8080)
            sim.run(for: Self.s)
        }

        static var s: UInt64 { TunnelTargetPolicyTests.s }

        /// Opens a stream from edge-1 to `target` on edge-2; the outcome once decided.
        func open(_ address: IPv4Address, _ port: UInt16, _ transport: TransportProtocol = .tcp) -> Result<Channel, Error>? {
            let tunnel = agents["edge-1"]!.tunnel!
            var outcome: Result<Channel, Error>?
            tunnel.openStream(to: TunnelTarget(node: "edge-2", address: address, port: port, transport: transport), on: tunnel.host.eventLoop)
                .whenComplete { outcome = $0 }
            _ = sim.run(until: sim.now + 10 * Self.s) { outcome == nil }
            if case .success(let channel) = outcome { channel.close(promise: nil) }
            return outcome
        }

        func refusal(_ address: IPv4Address, _ port: UInt16, _ transport: TransportProtocol = .tcp) -> TunnelStreamFailure? {
            guard case .failure(TunnelError.targetUnreachable(_, let failure)) = open(address, port, transport) else { return nil }
            return failure
        }
    }

    @Test func aServiceEndpointOnTheNodeIsReached() throws {
        let bed = try Bed()
        let b = bed.sim.host(named: "edge-2")!.address
        guard case .success = bed.open(b, 8080) else {
            Issue.record("the endpoint of web on edge-2 should be reached")
            return
        }
    }

    @Test func everythingElseIsRefusedWithTheReason() throws {
        let bed = try Bed()
        let b = bed.sim.host(named: "edge-2")!.address
        let printer = bed.sim.host(named: "printer")!.address
        let cases: [(IPv4Address, UInt16, TransportProtocol, String)] = [
            (.loopback, 8080, .tcp, "loopback"),
            (IPv4Address(127, 0, 0, 1), 10550, .tcp, "loopback"),
            (IPv4Address(169, 254, 96, 16), 53, .udp, "link-local"),
            (b, 9090, .tcp, "no service"),
            (b, 20006, .tcp, "agent"),
            (b, 8080, .udp, "no service"),
            (printer, 8080, .tcp, "no service"),
        ]
        for (address, port, transport, why) in cases {
            let failure = bed.refusal(address, port, transport)
            #expect(failure?.reason == .notAllowed, "\(transport) \(address):\(port) must be refused")
            #expect(failure?.detail.contains(why) == true, "\(transport) \(address):\(port): \(String(describing: failure))")
        }
    }
}
