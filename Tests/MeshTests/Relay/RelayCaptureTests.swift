import Mesh
import NIOCore
@testable import NetSim
@testable import Scenario
@testable import SimTestbed
import Testing

/// What the relay host sees of a relayed flow is ciphertext: the end-to-end encryption between
/// the two nodes is not the relay's to undo.
@Suite struct RelayCaptureTests {
    /// A node behind a symmetric NAT reaches a service behind a home NAT: no punch can work, so
    /// every request is relayed through `relay-1`. A plain control request goes to a server on
    /// the relay host itself, so the capture is shown to see payload bytes when they are there.
    static let scenario = """
        name: relay-capture
        duration: 90s
        seed: 11
        network:
          networks:
            - {name: internet, subnet: 203.0.113.0/24}
            - {name: cloud, subnet: 198.51.100.0/24, router: cloud-gw, cloud: true}
            - {name: lan-a, subnet: 192.168.1.0/24, router: nat-a}
            - {name: lan-b, subnet: 192.168.2.0/24, router: nat-b}
          routers:
            - {name: cloud-gw, upstream: internet, address: 203.0.113.2, link: {latency: 2ms}}
            - {name: nat-a, upstream: internet, address: 203.0.113.10, link: {latency: 20ms},
               nat: {mapping: address-and-port-dependent, filtering: address-and-port-dependent}}
            - {name: nat-b, upstream: internet, address: 203.0.113.20, link: {latency: 20ms},
               nat: {mapping: endpoint-independent, filtering: address-and-port-dependent}}
          nodes:
            - {name: relay-1, network: cloud, address: 198.51.100.10}
            - {name: edge-a, network: lan-a, address: 192.168.1.10}
            - {name: edge-b, network: lan-b, address: 192.168.2.10}
        mesh:
          agents: [edge-a, edge-b]
          relays: [relay-1]
        kubernetes:
          - {apiVersion: v1, kind: Service, metadata: {name: vault, namespace: default},
             spec: {clusterIP: 10.96.0.40, ports: [{name: http, port: 80, targetPort: 8080}]}}
          - {apiVersion: v1, kind: Endpoints, metadata: {name: vault, namespace: default},
             subsets: [{addresses: [{ip: 192.168.2.10, nodeName: edge-b}], ports: [{name: http, port: 8080}]}]}
        workloads:
          - {name: vault, node: edge-b, kind: http-server, port: 8080, podName: secret-pod-name-7f3a}
          - {name: control, node: relay-1, kind: http-server, port: 9090, podName: control-pod-name-c0de}
          - {name: through-relay, node: edge-a, kind: client, protocol: http, target: vault:80,
             start: 10s, interval: 2s, count: 30, timeout: 5s}
          - {name: in-clear, node: edge-a, kind: client, protocol: http, target: 198.51.100.10:9090,
             start: 10s, interval: 10s, count: 5, timeout: 5s}
        expect:
          - {workload: through-relay, successRatio: {min: 1}, path: relayed}
          - {workload: in-clear, successRatio: {min: 1}}
        """

    @Test func theRelayHostSeesNoPlaintextOfARelayedFlow() throws {
        let runner = try ScenarioRunner(scenario: try ScenarioParser.parse(yaml: Self.scenario, source: "relay-capture"))
        var seen: [UInt8] = []
        var relayedPayloadBytes = 0
        let report = try runner.run(options: .init(prepare: { simulator in
            let relay = try #require(simulator.node(named: "relay-1"))
            relay.capture = { packet, _ in
                let bytes = packet.payload.getBytes(at: packet.payload.readerIndex, length: packet.payload.readableBytes) ?? []
                seen += bytes
                // The relay port (scenario relays listen on 20008).
                if packet.source.port == 20008 || packet.destination.port == 20008 { relayedPayloadBytes += bytes.count }
            }
        }))
        let failed = report.verdicts.filter { !$0.passed }.map(\.detail)
        #expect(failed.isEmpty, "\(failed)")

        func contains(_ text: String) -> Bool {
            let needle = Array(text.utf8)
            guard seen.count >= needle.count else { return false }
            return (0...(seen.count - needle.count)).contains { seen[$0..<($0 + needle.count)].elementsEqual(needle) }
        }
        #expect(contains("control-pod-name-c0de"), "the capture sees the plain control answers")
        #expect(relayedPayloadBytes > 30 * "secret-pod-name-7f3a".utf8.count, "the relayed requests crossed the relay host")
        #expect(!contains("secret-pod-name-7f3a"), "the relayed answers are not readable on the relay")
        #expect(!contains("vault:80"), "nor are the relayed requests' Host headers")
    }
}
