import Foundation
import Mesh
@testable import NetSim
import NetworkTopology
@testable import Scenario
import Testing

@Suite struct ScenarioParserTests {
    // MARK: The whole schema

    /// Every key of the schema at least once, with non-default values where there is a choice.
    static let fullScenario = """
        name: full-schema
        description: Every key of the schema once.
        duration: 10m
        seed: 42
        network:
          networks:
            - name: internet
              subnet: 203.0.113.0/24
            - name: cloud
              subnet: 10.0.0.0/24
              router: cloud-gw
              cloud: true
            - name: lan-a
              subnet: 192.168.1.0/24
              router: nat-a
            - name: lan-b
              subnet: 192.168.2.0/24
              router: nat-b
          routers:
            - name: cloud-gw
              upstream: internet
              address: 203.0.113.2
              link: {latency: 1ms}
            - name: nat-a
              upstream: internet
              address: 203.0.113.10
              insideAddress: 192.168.1.1
              nat:
                mapping: endpoint-independent
                filtering: address-dependent
                hairpinning: false
                portPreservation: false
                portAllocation: random
                portRange: 20000-29999
                udpTimeout: 30s
                tcpEstablishedTimeout: 2h4m
                tcpTransitoryTimeout: 4m
                inboundRefresh: false
                udp: blocked
              link:
                up: {latency: 20ms, jitter: 5ms, loss: 1%, bandwidth: 10Mbps, queue: 64KiB}
                down: {latency: 25ms, loss: 0.5%, burstLoss: {enter: 1%, exit: 25%}, duplicate: 0.1%, bandwidth: 1Gbps, queue: 64KB, reorder: false}
            - name: nat-b
              upstream: internet
              nat: {mapping: address-and-port-dependent}
              link: {latency: 40ms, loss: 0.02, burstLoss: {enter: 0.5%, exit: 0.3, loss: 50%}, bandwidth: 512kbps}
          nodes:
            - {name: public-1, network: internet, address: 203.0.113.100}
            - {name: cloud-1, network: cloud}
            - name: edge-1
              network: lan-a
              address: 192.168.1.10
              link: {latency: 250us}
              hostJitter: 1500us
            - {name: edge-2, network: lan-b}
        kubernetes:
          - apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: default}
            spec:
              selector: {app: web}
              ports: [{port: 80, targetPort: 8080}]
        manifests: [manifests/web.yaml]
        workloads:
          - {name: web-0, node: edge-1, kind: http-server, port: 8080}
          - {name: web-1, node: edge-2, kind: http-server, port: 8080, podName: web-1-abcde}
          - {name: echo-t, node: cloud-1, kind: tcp-echo, port: 7}
          - {name: echo-u, node: cloud-1, kind: udp-echo, port: 7}
          - {name: echo-ws, node: cloud-1, kind: websocket-echo, port: 8081}
          - name: probe
            node: edge-2
            kind: client
            protocol: http
            targets: [edge-1:8080, 192.168.2.5:8080]
            start: 1s
            interval: 500ms
            count: 100
            timeout: 2s
          - {name: udp-probe, node: edge-1, kind: client, protocol: udp, target: cloud-1:7, payload: 1KiB}
          - {name: stun, node: public-1, kind: rendezvous, port: 3478}
          - name: peer-a
            node: edge-1
            kind: punch-peer
            transport: tcp
            rendezvous: public-1:3478
            peer: peer-b
            port: 40000
            start: 1s
            timeout: 30s
          - {name: peer-b, node: edge-2, kind: punch-peer, transport: tcp, rendezvous: 203.0.113.100:3478, peer: peer-a, port: 40000}
        faults:
          - {at: 30s, for: 1m, partition: {a: [lan-a], b: [cloud, cloud-gw], oneWay: true}}
          - {at: 10s, for: 2m, isolate: edge-1}
          - {at: 10s, for: 30s, linkDown: {node: nat-a, direction: up}}
          - {at: 15s, linkDown: {node: edge-2}}
          - {at: 0s, for: 5m, flap: {node: nat-a, down: 5s, up: 20s}}
          - {at: 40s, for: 3m, crash: edge-2}
          - {at: 50s, natReboot: nat-a}
          - {at: 60s, for: 1h, cloudUnreachable: true}
        expect:
          - workload: probe
            successRatio: {min: 0.99, max: 100%}
            latency: {p50: 20ms, p99: 200ms, p99.9: 1s}
            spread: {backends: [web-0, web-1-abcde], tolerance: 10%}
            path: direct
          - {workload: peer-a, successRatio: {max: 0}, path: hole-punched}

        """

    /// A multi-document manifest file: a comment before the first `---`, an empty document that
    /// must be skipped, and a List that expands to its items.
    static let manifestFile = """
        # Deployed alongside the inline Service.
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          namespace: default
        spec:
          replicas: 2
        ---
        ---
        apiVersion: v1
        kind: List
        items:
          - apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings}
            data: {mode: edge}
          - apiVersion: networking.istio.io/v1beta1
            kind: DestinationRule
            metadata: {name: web, namespace: default}
            spec: {host: web.default.svc.cluster.local}

        """

    static let expectedTopology = TopologySpec(
        networks: [
            .init(name: "internet", subnet: IPv4Prefix("203.0.113.0/24")!),
            .init(name: "cloud", subnet: IPv4Prefix("10.0.0.0/24")!, router: "cloud-gw", isCloud: true),
            .init(name: "lan-a", subnet: IPv4Prefix("192.168.1.0/24")!, router: "nat-a"),
            .init(name: "lan-b", subnet: IPv4Prefix("192.168.2.0/24")!, router: "nat-b"),
        ],
        routers: [
            .init(
                name: "cloud-gw", upstream: "internet", address: IPv4Address(203, 0, 113, 2),
                link: LinkSpec(both: LinkProfile(latency: 1_000_000))),
            .init(
                name: "nat-a", upstream: "internet", address: IPv4Address(203, 0, 113, 10),
                insideAddress: IPv4Address(192, 168, 1, 1),
                nat: NATConfiguration(
                    mapping: .endpointIndependent, filtering: .addressDependent, hairpinning: false,
                    portPreservation: false, portAllocation: .random, portRange: 20000...29999,
                    udpMappingTimeout: 30_000_000_000, tcpEstablishedTimeout: 7_440_000_000_000,
                    tcpTransitoryTimeout: 240_000_000_000, inboundRefresh: false, blocksUDP: true),
                link: LinkSpec(
                    up: LinkProfile(
                        latency: 20_000_000, jitter: 5_000_000, loss: 0.01, bandwidth: 10_000_000, queueLimit: 65536),
                    down: LinkProfile(
                        latency: 25_000_000, loss: 0.005, burstLoss: .init(enterBad: 0.01, exitBad: 0.25),
                        duplicate: 0.001, bandwidth: 1_000_000_000, queueLimit: 64000, reorder: false))),
            .init(
                name: "nat-b", upstream: "internet", nat: NATConfiguration(mapping: .addressAndPortDependent),
                link: LinkSpec(
                    both: LinkProfile(
                        latency: 40_000_000, loss: 0.02,
                        burstLoss: .init(enterBad: 0.005, exitBad: 0.3, lossInBadState: 0.5), bandwidth: 512_000))),
        ],
        nodes: [
            .init(name: "public-1", network: "internet", address: IPv4Address(203, 0, 113, 100)),
            .init(name: "cloud-1", network: "cloud"),
            .init(
                name: "edge-1", network: "lan-a", address: IPv4Address(192, 168, 1, 10),
                link: LinkSpec(both: LinkProfile(latency: 250_000)), hostJitter: 1_500_000),
            .init(name: "edge-2", network: "lan-b"),
        ])

    static let expectedWorkloads: [WorkloadSpec] = [
        .init(name: "web-0", node: "edge-1", kind: .httpServer(port: 8080, podName: "web-0")),
        .init(name: "web-1", node: "edge-2", kind: .httpServer(port: 8080, podName: "web-1-abcde")),
        .init(name: "echo-t", node: "cloud-1", kind: .tcpEcho(port: 7)),
        .init(name: "echo-u", node: "cloud-1", kind: .udpEcho(port: 7)),
        .init(name: "echo-ws", node: "cloud-1", kind: .webSocketEcho(port: 8081)),
        .init(
            name: "probe", node: "edge-2",
            kind: .client(
                .init(
                    protocol: .http, targets: ["edge-1:8080", "192.168.2.5:8080"], start: 1_000_000_000,
                    interval: 500_000_000, count: 100, timeout: 2_000_000_000, payloadSize: 64))),
        .init(
            name: "udp-probe", node: "edge-1",
            kind: .client(
                .init(
                    protocol: .udp, targets: ["cloud-1:7"], start: 0, interval: 1_000_000_000, count: 10,
                    timeout: 5_000_000_000, payloadSize: 1024))),
        .init(name: "stun", node: "public-1", kind: .rendezvous(port: 3478)),
        .init(
            name: "peer-a", node: "edge-1",
            kind: .punchPeer(
                .init(
                    transport: .tcp, rendezvous: "public-1:3478", peer: "peer-b", port: 40000, start: 1_000_000_000,
                    timeout: 30_000_000_000))),
        .init(
            name: "peer-b", node: "edge-2",
            kind: .punchPeer(
                .init(
                    transport: .tcp, rendezvous: "203.0.113.100:3478", peer: "peer-a", port: 40000, start: 0,
                    timeout: 30_000_000_000))),
    ]

    static let expectedFaults: [FaultSpec] = [
        .init(at: 30_000_000_000, duration: 60_000_000_000, kind: .partition(a: ["lan-a"], b: ["cloud", "cloud-gw"], oneWay: true)),
        .init(at: 10_000_000_000, duration: 120_000_000_000, kind: .isolate(node: "edge-1")),
        .init(at: 10_000_000_000, duration: 30_000_000_000, kind: .linkDown(node: "nat-a", direction: .up)),
        .init(at: 15_000_000_000, kind: .linkDown(node: "edge-2", direction: .both)),
        .init(at: 0, duration: 300_000_000_000, kind: .flap(node: "nat-a", down: 5_000_000_000, up: 20_000_000_000)),
        .init(at: 40_000_000_000, duration: 180_000_000_000, kind: .crash(node: "edge-2")),
        .init(at: 50_000_000_000, kind: .natReboot(router: "nat-a")),
        .init(at: 60_000_000_000, duration: 3_600_000_000_000, kind: .cloudUnreachable),
    ]

    static let expectedExpectations: [ExpectationSpec] = [
        .init(subject: "probe", kind: .minSuccessRatio(0.99)),
        .init(subject: "probe", kind: .maxSuccessRatio(1)),
        .init(subject: "probe", kind: .latency(percentile: 50, max: 20_000_000)),
        .init(subject: "probe", kind: .latency(percentile: 99, max: 200_000_000)),
        .init(subject: "probe", kind: .latency(percentile: 99.9, max: 1_000_000_000)),
        .init(subject: "probe", kind: .spread(backends: ["web-0", "web-1-abcde"], tolerance: 0.1)),
        .init(subject: "probe", kind: .path(.direct)),
        .init(subject: "peer-a", kind: .maxSuccessRatio(0)),
        .init(subject: "peer-a", kind: .path(.holePunched)),
    ]

    static let expectedManifests: [KubernetesManifest] = [
        .init(
            apiVersion: "v1", kind: "Service", name: "web", namespace: "default",
            yaml: """
                apiVersion: v1
                kind: Service
                metadata:
                  name: web
                  namespace: default
                spec:
                  selector:
                    app: web
                  ports:
                  - port: 80
                    targetPort: 8080

                """),
        .init(
            apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "default",
            yaml: """
                apiVersion: apps/v1
                kind: Deployment
                metadata:
                  name: web
                  namespace: default
                spec:
                  replicas: 2

                """),
        .init(
            apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: nil,
            yaml: """
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: settings
                data:
                  mode: edge

                """),
        .init(
            apiVersion: "networking.istio.io/v1beta1", kind: "DestinationRule", name: "web", namespace: "default",
            yaml: """
                apiVersion: networking.istio.io/v1beta1
                kind: DestinationRule
                metadata:
                  name: web
                  namespace: default
                spec:
                  host: web.default.svc.cluster.local

                """),
    ]

    /// A fresh directory holding the full scenario and its manifest file.
    static func writeFullScenario() throws -> String {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("scenario-parser-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(directory)/manifests", withIntermediateDirectories: true)
        try fullScenario.write(toFile: "\(directory)/full.yaml", atomically: true, encoding: .utf8)
        try manifestFile.write(toFile: "\(directory)/manifests/web.yaml", atomically: true, encoding: .utf8)
        return directory
    }

    @Test func fullScenarioParsesIntoTheExactModel() throws {
        let directory = try Self.writeFullScenario()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/full.yaml"
        let scenario = try ScenarioParser.load(path: path)

        #expect(scenario.name == "full-schema")
        #expect(scenario.description == "Every key of the schema once.")
        #expect(scenario.source == path)
        #expect(scenario.duration == 600_000_000_000)
        #expect(scenario.defaultSeed == 42)
        #expect(scenario.topology.networks == Self.expectedTopology.networks)
        #expect(scenario.topology.routers == Self.expectedTopology.routers)
        #expect(scenario.topology.nodes == Self.expectedTopology.nodes)
        #expect(scenario.workloads == Self.expectedWorkloads)
        #expect(scenario.faults == Self.expectedFaults)
        #expect(scenario.expectations == Self.expectedExpectations)
        #expect(scenario.manifests == Self.expectedManifests)
        #expect(
            scenario
                == Scenario(
                    name: "full-schema", description: "Every key of the schema once.", source: path,
                    duration: 600_000_000_000, defaultSeed: 42, topology: Self.expectedTopology,
                    manifests: Self.expectedManifests, workloads: Self.expectedWorkloads, faults: Self.expectedFaults,
                    expectations: Self.expectedExpectations))
    }

    @Test func defaultsApplyWhenOptionalKeysAreLeftOut() throws {
        let scenario = try ScenarioParser.parse(
            yaml: """
                name: minimal
                duration: 1h30m
                network:
                  networks: [{name: internet, subnet: 198.51.100.0/24}, {name: home, subnet: 192.168.0.0/16, router: gw}]
                  routers: [{name: gw, upstream: internet, nat: {}}]
                  nodes: [{name: n1, network: home}]
                workloads:
                  - {name: peer, node: n1, kind: punch-peer, rendezvous: relay.example:3478, peer: other, port: 5000}
                  - {name: other, node: n1, kind: punch-peer, rendezvous: relay.example:3478, peer: peer, port: 5001}
                faults:
                expect:
                """,
            source: "inline.yaml")
        #expect(scenario.description == "")
        #expect(scenario.defaultSeed == 1)
        #expect(scenario.duration == 5_400_000_000_000)
        #expect(scenario.topology.routers == [.init(name: "gw", upstream: "internet", nat: NATConfiguration())])
        #expect(scenario.topology.nodes == [.init(name: "n1", network: "home")])
        #expect(
            scenario.workloads.first
                == .init(
                    name: "peer", node: "n1",
                    kind: .punchPeer(
                        .init(
                            transport: .udp, rendezvous: "relay.example:3478", peer: "other", port: 5000, start: 0,
                            timeout: 30_000_000_000))))
        #expect(scenario.manifests.isEmpty && scenario.faults.isEmpty && scenario.expectations.isEmpty)
    }

    @Test func mergeKeysShareProfilesAndExplicitKeysWin() throws {
        let scenario = try ScenarioParser.parse(
            yaml: """
                name: merged
                duration: 1m
                network:
                  networks: [{name: internet, subnet: 198.51.100.0/24}]
                  nodes:
                    - name: a
                      network: internet
                      link: &wan {latency: 30ms, loss: 2%}
                    - name: b
                      network: internet
                      link: {<<: *wan, loss: 5%}
                """,
            source: "merge.yaml")
        #expect(scenario.topology.nodes.map(\.link) == [
            LinkSpec(both: LinkProfile(latency: 30_000_000, loss: 0.02)),
            LinkSpec(both: LinkProfile(latency: 30_000_000, loss: 0.05)),
        ])
    }

    // MARK: Rejected input

    /// A small valid scenario that the cases below break one way each.
    static let base = """
        name: base
        duration: 10m
        network:
          networks:
            - {name: internet, subnet: 203.0.113.0/24}
            - {name: cloud, subnet: 10.0.0.0/24, router: cloud-gw}
            - {name: lan-a, subnet: 192.168.1.0/24, router: nat-a}
            - {name: lan-b, subnet: 192.168.2.0/24, router: nat-b}
          routers:
            - {name: cloud-gw, upstream: internet}
            - name: nat-a
              upstream: internet
              nat: {mapping: endpoint-independent}
            - {name: nat-b, upstream: internet, nat: {}}
          nodes:
            - {name: edge-1, network: lan-a, address: 192.168.1.10}
            - {name: edge-2, network: lan-b}
            - {name: cloud-1, network: cloud}
        workloads:
          - {name: web, node: edge-1, kind: http-server, port: 8080}
          - {name: probe, node: edge-2, kind: client, protocol: http, target: edge-1:8080, count: 100}
          - {name: peer-a, node: edge-1, kind: punch-peer, rendezvous: cloud-1:3478, peer: peer-b, port: 4000}
          - {name: peer-b, node: edge-2, kind: punch-peer, rendezvous: cloud-1:3478, peer: peer-a, port: 4000}
        faults:
          - {at: 30s, for: 1m, isolate: edge-1}
        expect:
          - {workload: probe, successRatio: {min: 0.99}}

        """

    struct InvalidCase: CustomTestStringConvertible, Sendable {
        var label: String
        /// Replaces the first occurrence of `replace` in `base` with `with`.
        var replace: String
        var with: String
        /// The error must read `invalid scenario Scenarios/bad.yaml:LINE: ` + `message`, where LINE
        /// is the line of the broken scenario holding `lineOf`.
        var lineOf: String
        var message: String

        var testDescription: String { label }
    }

    static let invalidCases: [InvalidCase] = [
        .init(
            label: "pods without a pod network", replace: "address: 192.168.1.10}",
            with: "address: 192.168.1.10, pods: [{name: web-0}]}", lineOf: "pods:",
            message: #"network.nodes[0].pods: pods need the node's podCIDR: the network they are on"#),
        .init(
            label: "pod outside its pod network", replace: "address: 192.168.1.10}",
            with: "address: 192.168.1.10, podCIDR: 10.244.1.0/24, pods: [{name: web-0, address: 10.244.2.5}]}", lineOf: "pods:",
            message: #"network.nodes[0].pods[0].address: 10.244.2.5 is not a pod address of 10.244.1.0/24 (.1 is the node's bridge)"#),
        .init(
            label: "pod named as a node", replace: "address: 192.168.1.10}",
            with: "address: 192.168.1.10, podCIDR: 10.244.1.0/24, pods: [{name: cloud-1}]}", lineOf: "pods:",
            message: #"network.nodes[0].pods[0].name: name "cloud-1" is already used by network.nodes[2] (networks, routers, nodes and pods need distinct names)"#),
        .init(
            label: "secondary address outside the network", replace: "address: 192.168.1.10}",
            with: "address: 192.168.1.10, addresses: [{interface: eth1, address: 192.168.9.20}]}", lineOf: "addresses:",
            message: #"network.nodes[0].addresses: 192.168.9.20 is outside network "lan-a" (192.168.1.0/24)"#),
        .init(
            label: "secondary address twice", replace: "address: 192.168.1.10}",
            with: "address: 192.168.1.10, addresses: [{interface: eth1, address: 192.168.1.10}]}", lineOf: "addresses:",
            message: #"network.nodes[0].addresses: 192.168.1.10 is already used on network "lan-a" by network.nodes[0].address"#),
        .init(
            label: "http server status", replace: "kind: http-server, port: 8080}", with: "kind: http-server, port: 8080, status: 700}",
            lineOf: "status: 700", message: #"workloads[0].status: 700 is not an HTTP status (200 to 599)"#),
        .init(
            label: "unknown key", replace: "address: 192.168.1.10", with: "adress: 192.168.1.10", lineOf: "adress",
            message: #"network.nodes[0].adress: unknown key "adress" (allowed: name, network, address, link, hostJitter, addresses, podCIDR, pods)"#),
        .init(
            label: "unknown top-level key", replace: "faults:", with: "fault:", lineOf: "fault:",
            message: #"fault: unknown key "fault" (allowed: name, duration, network, description, seed, kubernetes, manifests, mesh, changes, workloads, faults, expect, matrix, lab, chaos, judgeFrom)"#),
        .init(
            label: "bad duration", replace: "at: 30s", with: "at: 5 minutes", lineOf: "5 minutes",
            message: #"faults[0].at: "5 minutes" is not a duration (examples: 250ms, 30s, 5m, 2h, 1h30m)"#),
        .init(
            label: "plain number as duration", replace: "duration: 10m", with: "duration: 600", lineOf: "duration:",
            message: #"duration: "600" is not a duration (examples: 250ms, 30s, 5m, 2h, 1h30m)"#),
        .init(
            label: "unknown network", replace: "{name: edge-2, network: lan-b}", with: "{name: edge-2, network: lan-c}",
            lineOf: "lan-c",
            message: #"network.nodes[1].network: unknown network "lan-c" (known: cloud, internet, lan-a, lan-b)"#),
        .init(
            label: "duplicate name", replace: "{name: cloud-1, network: cloud}", with: "{name: nat-b, network: cloud}",
            lineOf: "{name: nat-b, network: cloud}",
            message: #"network.nodes[2].name: name "nat-b" is already used by network.routers[2] (networks, routers, nodes and pods need distinct names)"#),
        .init(
            label: "address outside subnet", replace: "address: 192.168.1.10", with: "address: 192.168.2.10",
            lineOf: "192.168.2.10",
            message: #"network.nodes[0].address: 192.168.2.10 is outside network "lan-a" (192.168.1.0/24)"#),
        .init(
            label: "duplicate address", replace: "{name: edge-2, network: lan-b}",
            with: "{name: edge-2, network: lan-a, address: 192.168.1.10}", lineOf: "{name: edge-2",
            message: #"network.nodes[1].address: 192.168.1.10 is already used on network "lan-a" by network.nodes[0].address"#),
        .init(
            label: "two roots", replace: "{name: lan-b, subnet: 192.168.2.0/24, router: nat-b}",
            with: "{name: lan-b, subnet: 192.168.2.0/24}", lineOf: "{name: lan-b",
            message: #"network.networks[3]: network "lan-b" has no router, but "internet" (network.networks[0]) is already the root; exactly one network (the internet) has no router, give the others one"#),
        .init(
            label: "router of no network", replace: "{name: nat-b, upstream: internet, nat: {}}",
            with: "{name: nat-b, upstream: internet, nat: {}}\n    - {name: x-gw, upstream: lan-b}", lineOf: "{name: x-gw",
            message: #"network.routers[3]: router "x-gw" is the router of no network; name it in the router field of the network it serves"#),
        .init(
            label: "router cycle",
            replace: "upstream: internet\n      nat: {mapping: endpoint-independent}\n    - {name: nat-b, upstream: internet,",
            with: "upstream: lan-b\n      nat: {mapping: endpoint-independent}\n    - {name: nat-b, upstream: lan-a,",
            lineOf: "upstream: lan-a",
            message: #"network.routers[2].upstream: networks and routers form a cycle (lan-a -> nat-a -> lan-b -> nat-b -> lan-a); every network must lead up to the root network"#),
        .init(
            label: "upstream is the own inside", replace: "{name: nat-b, upstream: internet,",
            with: "{name: nat-b, upstream: lan-b,", lineOf: "upstream: lan-b",
            message: #"network.routers[2].upstream: "lan-b" is the router's own inside network; upstream is the network its WAN side is on"#),
        .init(
            label: "natReboot on a plain router", replace: "isolate: edge-1", with: "natReboot: cloud-gw",
            lineOf: "natReboot",
            message: #"faults[0].natReboot: "cloud-gw" is a plain router without nat; natReboot needs a NAT router (known: nat-a, nat-b)"#),
        .init(
            label: "crash on a router", replace: "isolate: edge-1", with: "crash: nat-a", lineOf: "crash",
            message: #"faults[0].crash: "nat-a" is a router, not a node (known: cloud-1, edge-1, edge-2)"#),
        .init(
            label: "two fault kinds", replace: "isolate: edge-1", with: "isolate: edge-1, crash: edge-2",
            lineOf: "isolate",
            message: #"faults[0]: "isolate" and "crash" in one fault: give exactly one of partition, isolate, linkDown, flap, degrade, clockSkew, crash, natReboot, cloudUnreachable"#),
        .init(
            label: "fault after the end", replace: "at: 30s", with: "at: 2h", lineOf: "at: 2h",
            message: "faults[0].at: 2h is not before the end of the run (duration 10m)"),
        .init(
            label: "cloudUnreachable without a cloud network", replace: "isolate: edge-1", with: "cloudUnreachable: true",
            lineOf: "cloudUnreachable",
            message: "faults[0].cloudUnreachable: no network is marked cloud: true; mark the cloud side's networks first"),
        .init(
            label: "bad enum value", replace: "mapping: endpoint-independent", with: "mapping: full-cone",
            lineOf: "full-cone",
            message: #"network.routers[1].nat.mapping: "full-cone" is not a NAT mapping behavior (allowed: endpoint-independent, address-dependent, address-and-port-dependent)"#),
        .init(
            label: "bad workload kind", replace: "kind: http-server", with: "kind: web-server", lineOf: "web-server",
            message: #"workloads[0].kind: "web-server" is not a workload kind (allowed: http-server, grpc-server, tcp-echo, udp-echo, websocket-echo, client, rendezvous, punch-peer, replay)"#),
        .init(
            label: "key of another workload kind", replace: "kind: http-server, port: 8080",
            with: "kind: tcp-echo, port: 8080, podName: web", lineOf: "tcp-echo",
            message: #"workloads[0].podName: unknown key "podName" for kind tcp-echo (allowed: name, node, kind, port)"#),
        .init(
            label: "workload on a router", replace: "{name: web, node: edge-1", with: "{name: web, node: nat-a",
            lineOf: "{name: web,",
            message: #"workloads[0].node: "nat-a" is a router, not a node or pod (known: cloud-1, edge-1, edge-2)"#),
        .init(
            label: "peer is not a punch peer", replace: "peer: peer-b", with: "peer: web", lineOf: "peer: web",
            message: #"workloads[2].peer: "web" is not a punch-peer (its kind is http-server); peer names another punch-peer workload (known: peer-b)"#),
        .init(
            label: "duplicate pod name", replace: "kind: http-server, port: 8080}",
            with: "kind: http-server, port: 8080}\n  - {name: web-2, node: edge-2, kind: http-server, port: 80, podName: web}",
            lineOf: "podName: web",
            message: #"workloads[1].podName: pod name "web" is already used by workloads[0]"#),
        .init(
            label: "client target without port", replace: "target: edge-1:8080", with: "target: edge-1",
            lineOf: "target: edge-1",
            message: #"workloads[1].target: "edge-1" is not host:port (host:port, such as edge-1:8080 or 203.0.113.5:3478, port 1-65535)"#),
        .init(
            label: "cookies on a client that is not http", replace: "protocol: http, target: edge-1:8080",
            with: "protocol: tcp, target: edge-1:8080, cookies: true", lineOf: "cookies: true",
            message: "workloads[1].cookies: cookies is for http and https clients; this one speaks tcp"),
        .init(
            label: "socks5 client without a proxy", replace: "protocol: http, target: edge-1:8080",
            with: "protocol: socks5, target: edge-1:22", lineOf: "protocol: socks5",
            message: "workloads[1]: a socks5 client needs proxy: the node proxy's host:port (a node running an agent with mesh.socks5, port 10800)"),
        .init(
            label: "proxy on a client that is not socks5", replace: "protocol: http, target: edge-1:8080",
            with: "protocol: tcp, target: edge-1:8080, proxy: cloud-1:10800", lineOf: "proxy: cloud-1",
            message: "workloads[1].proxy: proxy is for socks5 clients; this one speaks tcp"),
        .init(
            label: "socks5 node proxy without the tunnel", replace: "workloads:\n",
            with: "mesh: {agents: [edge-1], tunnel: false, socks5: {allowedPorts: [22]}}\nworkloads:\n", lineOf: "socks5: {",
            message: "mesh.socks5: the SOCKS5 node proxy reaches nodes through the tunnel; this mesh has tunnel: false"),
        .init(
            label: "client requests outlast the run", replace: "count: 100", with: "count: 1000", lineOf: "count: 1000",
            message: "workloads[1].count: 1000 requests every 1s from 0s, each given 5s, are decided only at 16m44s, after the end of the run (10m); lower count or interval, or lengthen duration"),
        .init(
            label: "bad probability", replace: "min: 0.99", with: "min: 99", lineOf: "min: 99",
            message: #"expect[0].successRatio.min: "99" is not a probability (a percentage such as 1% or 0.5%, or a number in [0, 1])"#),
        .init(
            label: "expectation on an unknown workload", replace: "{workload: probe,", with: "{workload: prob,",
            lineOf: "workload: prob",
            message: #"expect[0].workload: unknown client or punch-peer workload "prob" (known: peer-a, peer-b, probe)"#),
        .init(
            label: "expectation on a server", replace: "{workload: probe,", with: "{workload: web,",
            lineOf: "workload: web",
            message: #"expect[0].workload: "web" is not a client or punch-peer (its kind is http-server); expectations are about client and punch-peer workloads (known: peer-a, peer-b, probe)"#),
        .init(
            label: "duplicate key", replace: "  - {name: web, node: edge-1, kind: http-server, port: 8080}",
            with: "  - {name: web, node: edge-1, kind: http-server, port: 8080, port: 8081}", lineOf: "port: 8081",
            message: #"workloads[0].port: duplicate key "port""#),
        .init(
            label: "missing required key", replace: "{name: cloud-gw, upstream: internet}", with: "{name: cloud-gw}",
            lineOf: "{name: cloud-gw}", message: #"network.routers[0]: missing required key "upstream""#),
        .init(
            label: "matrix cell of an unknown workload", replace: "expect:\n",
            with: "matrix: {rows: [a], columns: [b], cells: [{row: a, column: b, workload: web}]}\nexpect:\n", lineOf: "matrix:",
            message: #"matrix.cells[0].workload: unknown client workload "web" (known: probe)"#),
        .init(
            label: "matrix cell in an unknown row", replace: "expect:\n",
            with: "matrix: {rows: [a], columns: [b], cells: [{row: c, column: b, workload: probe}]}\nexpect:\n", lineOf: "matrix:",
            message: #"matrix.cells[0].row: unknown row "c" (known: a)"#),
        .init(
            label: "matrix pair given twice", replace: "expect:\n",
            with: "matrix:\n  rows: [a]\n  columns: [b]\n  cells:\n    - {row: a, column: b, workload: probe}\n"
                + "    - {workload: probe, row: a, column: b}\nexpect:\n",
            lineOf: "{workload: probe, row: a",
            message: #"matrix.cells[1]: row "a", column "b" already shows probe; give each pair one cell"#),
        .init(
            label: "lab profile longer than the scenario", replace: "expect:\n", with: "lab: {duration: 11m}\nexpect:\n",
            lineOf: "lab:", message: "lab: the lab profile's duration is longer than the scenario's own"),
        .init(
            label: "lab profile fault after its end", replace: "expect:\n",
            with: "lab:\n  duration: 1m\n  faults: [{at: 2m, natReboot: nat-a}]\nexpect:\n", lineOf: "{at: 2m",
            message: "lab.faults[0]"),
        .init(
            label: "malformed YAML", replace: "faults:\n", with: "faults: [\n", lineOf: "- {at: 30s",
            message: "malformed YAML: "),
        .init(
            label: "degrade without loss or latency", replace: "isolate: edge-1}", with: "degrade: {node: nat-a}}",
            lineOf: "degrade", message: "faults[0].degrade: a degraded link needs loss, latency or both"),
        .init(
            label: "clock skew not a duration", replace: "isolate: edge-1}", with: "clockSkew: {node: edge-1, by: -ten}}",
            lineOf: "clockSkew", message: #"faults[0].clockSkew.by: "-ten" is not a duration"#),
        .init(
            label: "chaos kind unknown", replace: "expect:\n", with: "chaos: {kinds: [earthquake]}\nexpect:\n", lineOf: "chaos:",
            message: #"chaos.kinds[0]: "earthquake" is not a chaos fault kind (allowed: flap, linkDown, degrade, crash, relayCrash, partition, natReboot, cloudUnreachable, clockSkew, manifestChurn)"#),
        .init(
            label: "chaos leaves no time to settle", replace: "expect:\n", with: "chaos: {until: 9m, settle: 1m}\nexpect:\n",
            lineOf: "chaos:", message: "chaos: until + settle (10m) must end before the run (duration 10m)"),
    ]

    /// A `chaos:` section and the faults chaos draws can be written by hand too.
    @Test func chaosBoundsAndTheirFaultsAreRead() throws {
        let yaml = Self.base
            .replacingOccurrences(of: "isolate: edge-1}", with: "degrade: {node: nat-a, loss: 20%, latency: 300ms}}\n  - {at: 1m, for: 10s, clockSkew: {node: edge-2, by: -90s}}")
            .replacingOccurrences(of: "expect:\n", with: "chaos: {faults: 3, kinds: [crash, clockSkew], from: 1m, until: 5m, settle: 1m, maxSkew: 2m, targets: [edge-2]}\nexpect:\n")
        let scenario = try ScenarioParser.parse(yaml: yaml, source: "Scenarios/chaos.yaml")
        #expect(scenario.faults.map(\.kind) == [
            .degrade(node: "nat-a", loss: 0.2, latency: 300 * Nanoseconds.millisecond),
            .clockSkew(node: "edge-2", offset: -90 * Int64(Nanoseconds.second)),
        ])
        let chaos = try #require(scenario.chaos)
        #expect(chaos.faults == 3 && chaos.kinds == [.crash, .clockSkew] && chaos.targets == ["edge-2"])
        #expect(chaos.from == Nanoseconds.minute && chaos.until == 5 * Nanoseconds.minute && chaos.settle == Nanoseconds.minute)
        #expect(chaos.maxSkew == 2 * Nanoseconds.minute && chaos.longest == 30 * Nanoseconds.second)
    }

    @Test(arguments: ScenarioParserTests.invalidCases)
    func invalidInputIsRejectedWithFileFieldAndAllowedValues(_ invalid: InvalidCase) throws {
        #expect(Self.base.contains(invalid.replace), "the case must change the base scenario")
        guard let range = Self.base.range(of: invalid.replace) else { return }
        let yaml = Self.base.replacingCharacters(in: range, with: invalid.with)
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        let line = try #require(lines.firstIndex { $0.contains(invalid.lineOf) }) + 1

        let error = #expect(throws: ScenarioError.self) {
            try ScenarioParser.parse(yaml: yaml, source: "Scenarios/bad.yaml")
        }
        let prefix = "invalid scenario Scenarios/bad.yaml:\(line): "
        let text = error.map(String.init(describing:)) ?? ""
        #expect(text.hasPrefix(prefix + invalid.message), "\(text)")
        #expect(error?.line == line)
    }

    @Test func baseOfTheInvalidCasesIsValid() throws {
        let scenario = try ScenarioParser.parse(yaml: Self.base, source: "Scenarios/base.yaml")
        #expect(scenario.workloads.count == 4)
        #expect(scenario.expectations == [.init(subject: "probe", kind: .minSuccessRatio(0.99))])
    }

    @Test func labProfileShortensTheRunAndReplacesTheFaults() throws {
        let yaml = Self.base.replacingOccurrences(
            of: "expect:\n",
            with: "lab:\n  duration: 2m\n  why: real time\n  faults: [{at: 1m, natReboot: nat-a}]\n"
                + "  expect: [{workload: probe, successRatio: {min: 0.9}}]\nexpect:\n")
        let scenario = try ScenarioParser.parse(yaml: yaml, source: "Scenarios/base.yaml")
        #expect(scenario.labProfile?.why == "real time")
        let lab = scenario.applyingLabProfile()
        #expect(lab.duration == 120 * Nanoseconds.second)
        #expect(lab.faults == [FaultSpec(at: 60 * Nanoseconds.second, duration: nil, kind: .natReboot(router: "nat-a"))])
        #expect(lab.expectations == [ExpectationSpec(subject: "probe", kind: .minSuccessRatio(0.9))])
        #expect(scenario.expectations == [ExpectationSpec(subject: "probe", kind: .minSuccessRatio(0.99))])
        #expect(lab.labProfile == nil)
        #expect(lab.workloads == scenario.workloads)
        // Without a profile the lab runs the file as it is.
        let plain = try ScenarioParser.parse(yaml: Self.base, source: "Scenarios/base.yaml")
        #expect(plain.applyingLabProfile() == plain)
    }

    @Test func manifestFileErrorsNameTheFileTheLineAndTheDocument() throws {
        let directory = try Self.writeFullScenario()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  namespace: x\n"
            .write(toFile: "\(directory)/manifests/web.yaml", atomically: true, encoding: .utf8)
        let error = #expect(throws: ScenarioError.self) { try ScenarioParser.load(path: "\(directory)/full.yaml") }
        let lines = Self.fullScenario.split(separator: "\n", omittingEmptySubsequences: false)
        let line = try #require(lines.firstIndex { $0.hasPrefix("manifests:") }) + 1
        #expect(
            error?.description
                == "invalid scenario \(directory)/full.yaml:\(line): manifests[0]: manifests/web.yaml:8 (document 2): "
                + #"metadata: missing required key "name""#)

        let missing = #expect(throws: ScenarioError.self) {
            try ScenarioParser.parse(
                yaml: Self.fullScenario.replacingOccurrences(of: "manifests/web.yaml", with: "manifests/nope.yaml"),
                source: "\(directory)/full.yaml")
        }
        #expect(missing?.description.contains("manifests[0]: cannot read manifest file \(directory)/manifests/nope.yaml") == true)
    }

    @Test func emptyAndMissingFilesAreReported() {
        let empty = #expect(throws: ScenarioError.self) { try ScenarioParser.parse(yaml: "# nothing\n", source: "e.yaml") }
        #expect(empty?.description == "invalid scenario e.yaml: the file is empty; a scenario needs at least name, duration, network")
        let missing = #expect(throws: ScenarioError.self) { try ScenarioParser.load(path: "/nonexistent/x.yaml") }
        #expect(missing?.description.hasPrefix("invalid scenario /nonexistent/x.yaml: cannot read the file") == true)
    }

    // MARK: Value syntaxes

    @Test func durations() {
        #expect(ScenarioValues.duration("250ms") == 250_000_000)
        #expect(ScenarioValues.duration("30s") == 30_000_000_000)
        #expect(ScenarioValues.duration("5m") == 300_000_000_000)
        #expect(ScenarioValues.duration("2h") == 7_200_000_000_000)
        #expect(ScenarioValues.duration("1h30m") == 5_400_000_000_000)
        #expect(ScenarioValues.duration("10us") == 10_000)
        #expect(ScenarioValues.duration("10µs") == 10_000)
        #expect(ScenarioValues.duration("1.5s") == 1_500_000_000)
        #expect(ScenarioValues.duration("7ns") == 7)
        #expect(ScenarioValues.duration("0") == 0)
        #expect(ScenarioValues.duration("0s") == 0)
        for bad in ["", "30", "5 minutes", "1.5ns", "s", "1x", "-1s", "1h-30m", "99999999999h", "1..5s"] {
            #expect(ScenarioValues.duration(bad) == nil, "\(bad)")
        }
        for value: UInt64 in [0, 7, 250_000_000, 1_500_000_000, 5_400_000_000_000, 7_440_000_000_123] {
            #expect(ScenarioValues.duration(ScenarioValues.format(duration: value)) == value)
        }
        #expect(ScenarioValues.format(duration: 5_400_000_000_000) == "1h30m")
    }

    @Test func probabilities() {
        #expect(ScenarioValues.probability("1%") == 0.01)
        #expect(ScenarioValues.probability("0.5%") == 0.005)
        #expect(ScenarioValues.probability("0.1%") == 0.001)
        #expect(ScenarioValues.probability("100%") == 1)
        #expect(ScenarioValues.probability("0.25") == 0.25)
        #expect(ScenarioValues.probability("1") == 1)
        #expect(ScenarioValues.probability("0") == 0)
        for bad in ["", "%", "101%", "1.5", "2", "-0.1", "abc", "1e-3", "50 %"] {
            #expect(ScenarioValues.probability(bad) == nil, "\(bad)")
        }
    }

    @Test func sizesAndBandwidths() {
        #expect(ScenarioValues.byteCount("64KiB") == 65_536)
        #expect(ScenarioValues.byteCount("64KB") == 64_000)
        #expect(ScenarioValues.byteCount("64kB") == 64_000)
        #expect(ScenarioValues.byteCount("1MiB") == 1_048_576)
        #expect(ScenarioValues.byteCount("1MB") == 1_000_000)
        #expect(ScenarioValues.byteCount("1500B") == 1500)
        #expect(ScenarioValues.byteCount("1500") == 1500)
        #expect(ScenarioValues.byteCount("1.5KiB") == 1536)
        for bad in ["", "KiB", "64 KiB", "64kib", "1.1B", "-1"] {
            #expect(ScenarioValues.byteCount(bad) == nil, "\(bad)")
        }
        #expect(ScenarioValues.bandwidth("10Mbps") == 10_000_000)
        #expect(ScenarioValues.bandwidth("1Gbps") == 1_000_000_000)
        #expect(ScenarioValues.bandwidth("512kbps") == 512_000)
        #expect(ScenarioValues.bandwidth("1.5Mbps") == 1_500_000)
        for bad in ["", "10", "10MB", "10mbps", "Mbps"] {
            #expect(ScenarioValues.bandwidth(bad) == nil, "\(bad)")
        }
    }

    @Test func addressesAndEndpoints() {
        #expect(ScenarioValues.address("192.168.1.10") == IPv4Address(192, 168, 1, 10))
        #expect(ScenarioValues.address("192.168.1") == nil)
        #expect(ScenarioValues.prefix("10.96.0.0/12") == IPv4Prefix(network: IPv4Address(10, 96, 0, 0), length: 12))
        #expect(ScenarioValues.prefix("10.0.0.5/24") == nil)
        #expect(ScenarioValues.prefix("10.0.0.0") == nil)
        func hostPort(_ text: String) -> String? {
            ScenarioValues.hostPort(text).map { "\($0.host) \($0.port)" }
        }
        #expect(hostPort("edge-1:8080") == "edge-1 8080")
        #expect(hostPort("web.default.svc.cluster.local:80") == "web.default.svc.cluster.local 80")
        #expect(hostPort("203.0.113.5:3478") == "203.0.113.5 3478")
        for bad in ["edge-1", ":80", "edge-1:", "edge-1:0", "edge-1:70000", "edge 1:80", "-x:80"] {
            #expect(hostPort(bad) == nil, "\(bad)")
        }
        #expect(ScenarioValues.portRange("1024-65535") == 1024...65535)
        #expect(ScenarioValues.portRange("40000") == 40000...40000)
        #expect(ScenarioValues.portRange("2000-1000") == nil)
        #expect(ScenarioValues.portRange("0-100") == nil)
    }
}
