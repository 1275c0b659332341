import Mesh
import Testing

@testable import Scenario
@testable import SimTestbed

/// The path reported for a client's flows is the one its bytes took, for every protocol: each
/// request is matched with the flow its agent carried it on. A TCP or UDP echo pod does not
/// name itself, so a path worked out from who answered (or from the topology) cannot be right.
@Suite struct ObservedPathTests {
    /// Two LANs behind NATs that cannot be punched through each other (symmetric against
    /// port-restricted), a relay in the cloud, and echo pods on lan-b reached from lan-a.
    static let scenario = try! ScenarioParser.parse(
        yaml: """
            name: observed-paths
            duration: 90s
            network:
              networks:
                - {name: internet, subnet: 203.0.113.0/24}
                - {name: cloud, subnet: 198.51.100.0/24, router: cloud-gw, cloud: true}
                - {name: lan-a, subnet: 192.168.1.0/24, router: nat-a}
                - {name: lan-b, subnet: 192.168.2.0/24, router: nat-b}
              routers:
                - {name: cloud-gw, upstream: internet, address: 203.0.113.2}
                - {name: nat-a, upstream: internet, address: 203.0.113.10,
                   nat: {mapping: address-and-port-dependent, filtering: address-and-port-dependent}}
                - {name: nat-b, upstream: internet, address: 203.0.113.20,
                   nat: {mapping: endpoint-independent, filtering: address-and-port-dependent}}
              nodes:
                - {name: relay, network: cloud, address: 198.51.100.10}
                - {name: edge-a1, network: lan-a, address: 192.168.1.10}
                - {name: edge-b1, network: lan-b, address: 192.168.2.10}
            mesh:
              agents: [edge-a1, edge-b1]
              relays: [relay]
            kubernetes:
              - {apiVersion: v1, kind: Service, metadata: {name: echo, namespace: default},
                 spec: {clusterIP: 10.96.0.20, ports: [{name: tcp, port: 7, protocol: TCP}, {name: udp, port: 7, protocol: UDP}]}}
              - apiVersion: v1
                kind: Endpoints
                metadata: {name: echo, namespace: default}
                subsets:
                  - addresses: [{ip: 192.168.2.10, nodeName: edge-b1}]
                    ports: [{name: tcp, port: 2701, protocol: TCP}, {name: udp, port: 2702, protocol: UDP}]
            workloads:
              - {name: tcp-echo, node: edge-b1, kind: tcp-echo, port: 2701}
              - {name: udp-echo, node: edge-b1, kind: udp-echo, port: 2702}
              - {name: tcp-client, node: edge-a1, kind: client, protocol: tcp, target: echo:7,
                 start: 30s, interval: 2s, count: 20, timeout: 5s}
              - {name: udp-client, node: edge-a1, kind: client, protocol: udp, target: echo:7,
                 start: 30s, interval: 2s, count: 20, timeout: 5s}
              - {name: local-client, node: edge-b1, kind: client, protocol: tcp, target: echo:7,
                 start: 30s, interval: 2s, count: 20, timeout: 5s}
            expect:
              - {workload: tcp-client, successRatio: {min: 0.9}, path: relayed}
              - {workload: udp-client, successRatio: {min: 0.9}, path: relayed}
              - {workload: local-client, successRatio: {min: 0.9}, path: local}
            """, source: "observed-paths.yaml")

    @Test("TCP and UDP echo clients across two NATs that cannot punch are reported relayed, a client on the pod's node local")
    func echoClientsReportTheirRelayedPath() throws {
        let report = try ScenarioRunner(scenario: Self.scenario).run()
        for verdict in report.verdicts {
            #expect(verdict.passed, "\(verdict)")
        }
        #expect(report.verdicts.count == 6)
    }
}
