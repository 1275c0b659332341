import Mesh
import NetworkTopology
@testable import Scenario

/// Small scenarios built in code: two home NATs on the internet, servers and clients.
enum ScenarioFixtures {
    static let ms = Nanoseconds.millisecond
    static let s = Nanoseconds.second

    static func twoNATs(
        _ a: NATConfiguration, _ b: NATConfiguration, wanLoss: Double = 0, transport: WorkloadSpec.TransportKind = .udp
    ) -> Scenario {
        let wan = LinkSpec(both: LinkProfile(latency: 20 * ms, jitter: 2 * ms, loss: wanLoss))
        let topology = TopologySpec(
            networks: [
                .init(name: "internet", subnet: IPv4Prefix("203.0.113.0/24")!),
                .init(name: "lan-a", subnet: IPv4Prefix("192.168.1.0/24")!, router: "nat-a"),
                .init(name: "lan-b", subnet: IPv4Prefix("192.168.2.0/24")!, router: "nat-b"),
            ],
            routers: [
                .init(name: "nat-a", upstream: "internet", nat: a, link: wan),
                .init(name: "nat-b", upstream: "internet", nat: b, link: wan),
            ],
            nodes: [
                .init(name: "public", network: "internet"),
                .init(name: "edge-a", network: "lan-a"),
                .init(name: "edge-a2", network: "lan-a"),
                .init(name: "edge-b", network: "lan-b"),
            ])
        func peer(_ name: String, _ node: String, _ other: String) -> WorkloadSpec {
            WorkloadSpec(
                name: name, node: node,
                kind: .punchPeer(.init(transport: transport, rendezvous: "public:3478", peer: other, port: 40000, start: 1 * s, timeout: 20 * s)))
        }
        return Scenario(
            name: "two-nats", source: "(test)", duration: 30 * s, topology: topology,
            workloads: [
                WorkloadSpec(name: "stun", node: "public", kind: .rendezvous(port: 3478)),
                peer("peer-a", "edge-a", "peer-b"),
                peer("peer-b", "edge-b", "peer-a"),
                WorkloadSpec(name: "web", node: "public", kind: .httpServer(port: 80, podName: "web-0")),
                WorkloadSpec(
                    name: "browser", node: "edge-a",
                    kind: .client(.init(protocol: .http, targets: ["public:80"], start: 1 * s, interval: 1 * s, count: 20, timeout: 5 * s, payloadSize: 64))),
            ],
            expectations: [ExpectationSpec(subject: "browser", kind: .minSuccessRatio(1))])
    }

    static let cone = NATConfiguration(mapping: .endpointIndependent, filtering: .addressAndPortDependent)
    static let symmetric = NATConfiguration(mapping: .addressAndPortDependent, filtering: .addressAndPortDependent)
}
