import Foundation
import Mesh
import NIOCore
import TestFixtures
import Testing

/// The Kubernetes object model: what the control plane decodes from the API server, the
/// KubeEdge metaServer and manifest files.
@Suite struct KubernetesModelTests {
    // MARK: The real metaServer ServiceList

    static let fixtureURL = RepositoryFiles.metaServerServiceList

    @Test func decodesTheMetaServerServiceList() throws {
        let bytes = try [UInt8](Data(contentsOf: Self.fixtureURL))
        let list = try KubernetesDecoder.decodeList(Service.self, json: bytes)
        #expect(list.apiVersion == "v1")
        #expect(list.kind == "ServiceList")
        #expect(list.resourceVersion == "377360")
        #expect(list.skipped.isEmpty)
        #expect(list.items.map(\.key) == [
            ObjectKey(namespace: "default", name: "kubernetes"),
            ObjectKey(namespace: "kube-system", name: "kube-dns"),
        ])

        let api = list.items[0]
        #expect(api.metadata.uid == "55eeebea-08cf-4d1a-8b04-e85f8ae112a9")
        #expect(api.metadata.resourceVersion == "147")
        #expect(api.metadata.labels == ["component": "apiserver", "provider": "kubernetes"])
        #expect(api.spec.type == .clusterIP)
        #expect(api.spec.clusterIP == "10.96.0.1")
        #expect(api.spec.allocatedClusterIPs == ["10.96.0.1"])
        #expect(api.spec.ports == [ServicePort(name: "https", protocol: .tcp, port: 443, targetPort: .number(6443))])
        #expect(api.spec.selector.isEmpty)
        #expect(api.spec.sessionAffinity == .none)

        let dns = list.items[1]
        #expect(dns.spec.clusterIP == "10.96.0.10")
        #expect(dns.spec.selector == ["k8s-app": "kube-dns"])
        #expect(dns.metadata.annotations["prometheus.io/port"] == "9153")
        #expect(dns.spec.ports.map(\.name) == ["dns", "dns-tcp", "metrics"])
        #expect(dns.spec.ports.map(\.protocol) == [.udp, .tcp, .tcp])
        #expect(dns.spec.ports.map(\.port) == [53, 53, 9153])
        #expect(dns.spec.ports.map(\.targetPort) == [.number(53), .number(53), .number(9153)])
        #expect(dns.spec.port(named: "metrics")?.port == 9153)
    }

    // MARK: Services

    @Test func serviceFromJSONWithEveryFieldAndUnknownFieldsIgnored() throws {
        let json = """
        {"apiVersion":"v1","kind":"Service","futureTopLevel":{"x":[1,2]},
         "metadata":{"name":"web","namespace":"shop","uid":"u-1","resourceVersion":"42",
                     "deletionTimestamp":"2024-01-01T00:00:00Z","managedFields":[{"manager":"kubectl"}],
                     "labels":{"app":"web"},"annotations":{"note":"x"}},
         "spec":{"type":"NodePort","clusterIP":"10.96.3.4","clusterIPs":["10.96.3.4","fd00::4"],
                 "ipFamilies":["IPv4","IPv6"],
                 "ports":[{"name":"http","port":80,"targetPort":"http-web","nodePort":30080,"appProtocol":"http"},
                          {"name":"metrics","protocol":"UDP","port":9000}],
                 "selector":{"app":"web"},"sessionAffinity":"ClientIP",
                 "sessionAffinityConfig":{"clientIP":{"timeoutSeconds":600}},
                 "internalTrafficPolicy":"Local","publishNotReadyAddresses":true},
         "status":{"loadBalancer":{}}}
        """
        guard case .service(let service) = try KubernetesObject.decode(json: Array(json.utf8)) else {
            Issue.record("not decoded as a Service")
            return
        }
        #expect(service.key == ObjectKey(namespace: "shop", name: "web"))
        #expect(service.metadata.uid == "u-1")
        #expect(service.metadata.resourceVersion == "42")
        #expect(service.metadata.isBeingDeleted)
        #expect(service.metadata.annotations == ["note": "x"])
        #expect(service.spec.type == .nodePort)
        #expect(service.spec.allocatedClusterIPs == ["10.96.3.4", "fd00::4"])
        #expect(service.spec.ports[0] == ServicePort(name: "http", port: 80, targetPort: .name("http-web"), nodePort: 30080, appProtocol: "http"))
        #expect(service.spec.ports[0].protocol == .tcp)
        #expect(service.spec.ports[1].protocol == .udp)
        #expect(service.spec.ports[1].targetPort == .number(9000))
        #expect(service.spec.sessionAffinity == .clientIP)
        #expect(service.spec.clientIPTimeoutSeconds == 600)
        #expect(service.spec.internalTrafficPolicy == .local)
        #expect(service.spec.publishNotReadyAddresses)
        #expect(!service.spec.isHeadless)
    }

    @Test func serviceFromYAMLAppliesKubernetesDefaults() throws {
        let yaml = """
        apiVersion: v1
        kind: Service
        metadata:
          name: echo
        spec:
          selector:
            app: echo
            version: "2"
          sessionAffinity: ClientIP
          ports:
          - port: 8080
            targetPort: 80
        """
        guard case .service(let service) = try KubernetesObject.decode(yaml: yaml) else {
            Issue.record("not decoded as a Service")
            return
        }
        #expect(service.metadata.namespace == "default")
        #expect(service.metadata.declaredNamespace == nil)
        #expect(service.spec.type == .clusterIP)
        #expect(service.spec.selector == ["app": "echo", "version": "2"])
        #expect(service.spec.ports == [ServicePort(port: 8080, targetPort: .number(80))])
        #expect(service.spec.port(named: "")?.protocol == .tcp)
        #expect(service.spec.sessionAffinity == .clientIP)
        #expect(service.spec.clientIPTimeoutSeconds == 10800)
        #expect(service.spec.internalTrafficPolicy == .cluster)
        #expect(!service.spec.publishNotReadyAddresses)
        // No cluster IP is allocated until the API server does so.
        #expect(service.spec.allocatedClusterIPs.isEmpty)
    }

    @Test func headlessAndExternalNameServices() throws {
        let headless: Service = try KubernetesDecoder.decode(Service.self, yaml: """
            metadata: {name: db, namespace: data}
            spec:
              clusterIP: None
              clusterIPs: [None]
              ports: [{name: pg, port: 5432}]
            """)
        #expect(headless.spec.isHeadless)
        #expect(headless.spec.allocatedClusterIPs.isEmpty)

        let external: Service = try KubernetesDecoder.decode(Service.self, json: Array("""
            {"metadata":{"name":"search","namespace":"default"},
             "spec":{"type":"ExternalName","externalName":"search.example.com"}}
            """.utf8))
        #expect(external.spec.type == .externalName)
        #expect(external.spec.externalName == "search.example.com")
        #expect(!external.spec.isHeadless)
        #expect(external.spec.allocatedClusterIPs.isEmpty)
        #expect(external.spec.ports.isEmpty)
    }

    @Test func serviceFilterFollowsEdgeMeshModes() throws {
        let labelled = try KubernetesDecoder.decode(Service.self, yaml: """
            metadata:
              name: other
              labels: {service.edgemesh.kubeedge.io/service-proxy-name: istio}
            """)
        let plain = try KubernetesDecoder.decode(Service.self, yaml: "metadata: {name: mine}")
        #expect(ServiceFilter.default == .filterIfLabelExists)
        #expect(ServiceFilter.filterIfLabelExists.admits(plain))
        #expect(!ServiceFilter.filterIfLabelExists.admits(labelled))
        #expect(ServiceFilter.filterIfLabelDoesNotExist.admits(labelled))
        #expect(!ServiceFilter.filterIfLabelDoesNotExist.admits(plain))
        #expect(ServiceFilter(configurationValue: "FilterIfLabelDoesNotExists") == .filterIfLabelDoesNotExist)
        #expect(ServiceFilter(configurationValue: "FilterIfLabelExists") == .filterIfLabelExists)
        #expect(ServiceFilter(configurationValue: "Sometimes") == nil)
    }

    // MARK: Endpoints and EndpointSlices

    @Test func endpointsFlattenSortedAndReadyOnlyByDefault() throws {
        let endpoints = try KubernetesDecoder.decode(Endpoints.self, yaml: """
            apiVersion: v1
            kind: Endpoints
            metadata: {name: web, namespace: shop}
            subsets:
            - addresses:
              - {ip: 10.0.2.9, nodeName: edge-2, hostname: web-1, targetRef: {kind: Pod, name: web-1, namespace: shop}}
              - {ip: 10.0.1.5, nodeName: edge-1}
              notReadyAddresses:
              - {ip: 10.0.3.1, nodeName: edge-3}
              ports:
              - {name: http, port: 8080}
              - {name: grpc, port: 9090, protocol: TCP}
            """)
        #expect(endpoints.subsets[0].addresses[0].targetRef == ObjectReference(kind: "Pod", namespace: "shop", name: "web-1"))
        #expect(endpoints.subsets[0].ports[1].protocol == .tcp)
        let ready = ServiceEndpoint.flatten(endpoints)
        #expect(ready.map(\.ip) == ["10.0.1.5", "10.0.2.9"])
        #expect(ready[1] == ServiceEndpoint(
            ip: "10.0.2.9", ports: ["http": 8080, "grpc": 9090], nodeName: "edge-2", hostname: "web-1", ready: true))
        let all = ServiceEndpoint.flatten(endpoints, includingNotReady: true)
        #expect(all.map(\.ip) == ["10.0.1.5", "10.0.2.9", "10.0.3.1"])
        #expect(all.map(\.ready) == [true, true, false])
    }

    @Test func endpointSlicesFlattenSortedReadyOnlyAndDeduplicated() throws {
        let first = try KubernetesDecoder.decode(EndpointSlice.self, json: Array("""
            {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
             "metadata":{"name":"web-abc","namespace":"shop","labels":{"kubernetes.io/service-name":"web"}},
             "addressType":"IPv4",
             "endpoints":[
               {"addresses":["10.0.9.1"],"conditions":{"ready":true,"serving":true,"terminating":false},
                "nodeName":"edge-9","zone":"z1","hostname":"w9","targetRef":{"kind":"Pod","name":"w9"}},
               {"addresses":["10.0.1.1"],"conditions":{},"nodeName":"edge-1"},
               {"addresses":["10.0.5.5"],"conditions":{"ready":false,"serving":true,"terminating":true}}],
             "ports":[{"name":"http","port":8080,"protocol":"TCP"},{"name":"all","port":null}]}
            """.utf8))
        let second = try KubernetesDecoder.decode(EndpointSlice.self, yaml: """
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: web-def
              namespace: shop
              labels: {kubernetes.io/service-name: web}
            addressType: IPv4
            endpoints:
            - addresses: [10.0.3.3]
              conditions: {ready: true}
            - addresses: [10.0.1.1]
            ports:
            - {name: http, port: 8080}
            """)
        #expect(first.serviceKey == ObjectKey(namespace: "shop", name: "web"))
        #expect(first.endpoints[0].zone == "z1")
        #expect(first.endpoints[0].targetRef?.name == "w9")
        #expect(first.endpoints[1].conditions.ready)  // absent means ready, per Kubernetes
        #expect(first.endpoints[2].conditions.serving && first.endpoints[2].conditions.terminating)
        #expect(first.ports[1].port == nil)

        // Either order of slices gives the same list: sorted, the duplicate 10.0.1.1 once.
        let flattened = ServiceEndpoint.flatten([first, second])
        #expect(flattened == ServiceEndpoint.flatten([second, first]))
        #expect(flattened.map(\.ip) == ["10.0.1.1", "10.0.3.3", "10.0.9.1"])
        #expect(flattened.allSatisfy { $0.ports == ["http": 8080] && $0.ready })
        #expect(flattened[0].nodeName == "edge-1")  // the duplicate that names its node is kept
        #expect(flattened[2].nodeName == "edge-9")
        #expect(flattened[2].hostname == "w9")
        #expect(ServiceEndpoint.flatten([first], includingNotReady: true).map(\.ip) == ["10.0.1.1", "10.0.5.5", "10.0.9.1"])

        var fqdn = second
        fqdn.addressType = .fqdn
        #expect(ServiceEndpoint.flatten([fqdn]).isEmpty)
    }

    // MARK: Pods, Nodes, Secrets

    @Test func podAndNodeFromJSONAndYAML() throws {
        let pod = try KubernetesDecoder.decode(Pod.self, json: Array("""
            {"metadata":{"name":"web-1","namespace":"shop"},
             "spec":{"nodeName":"edge-1","hostname":"web-1","subdomain":"web","containers":[{"name":"c"}]},
             "status":{"phase":"Running","podIP":"10.0.1.5","podIPs":[{"ip":"10.0.1.5"},{"ip":"fd00::5"}],
                       "conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"True"}]}}
            """.utf8))
        #expect(pod.spec == Pod.Spec(nodeName: "edge-1", hostname: "web-1", subdomain: "web"))
        #expect(pod.status.phase == .running)
        #expect(pod.status.allPodIPs == ["10.0.1.5", "fd00::5"])
        #expect(pod.isReady)

        guard case .pod(let pending) = try KubernetesObject.decode(yaml: """
            apiVersion: v1
            kind: Pod
            metadata: {name: new}
            status:
              podIP: 10.0.0.7
              conditions: [{type: Ready, status: "False", reason: ContainersNotReady}]
            """) else {
            Issue.record("not decoded as a Pod")
            return
        }
        #expect(pending.status.phase == .pending)
        #expect(pending.status.allPodIPs == ["10.0.0.7"])
        #expect(!pending.isReady)
        #expect(pending.status.conditions[0].reason == "ContainersNotReady")

        guard case .node(let node) = try KubernetesObject.decode(yaml: """
            apiVersion: v1
            kind: Node
            metadata: {name: edge-1, labels: {node-role.kubernetes.io/edge: ""}}
            status:
              addresses:
              - {type: InternalIP, address: 192.168.1.10}
              - {type: Hostname, address: edge-1}
              conditions:
              - {type: MemoryPressure, status: "False"}
              - {type: Ready, status: "True"}
            """) else {
            Issue.record("not decoded as a Node")
            return
        }
        #expect(node.name == "edge-1")
        #expect(node.address(ofType: .internalIP) == "192.168.1.10")
        #expect(node.address(ofType: .externalIP) == nil)
        #expect(node.isReady)
        let unknown = try KubernetesDecoder.decode(Node.self, json: Array("""
            {"metadata":{"name":"edge-2"},"status":{"conditions":[{"type":"Ready","status":"Unknown"}]}}
            """.utf8))
        #expect(!unknown.isReady)
    }

    @Test func secretDataIsBase64DecodedAndStringDataWins() throws {
        guard case .secret(let secret) = try KubernetesObject.decode(json: Array("""
            {"apiVersion":"v1","kind":"Secret","metadata":{"name":"tls","namespace":"gw"},
             "type":"kubernetes.io/tls","data":{"tls.crt":"Y2VydA==","tls.key":"AAEC/w=="}}
            """.utf8)) else {
            Issue.record("not decoded as a Secret")
            return
        }
        #expect(secret.type == Secret.tlsType)
        #expect(secret.data["tls.crt"] == Array("cert".utf8))
        #expect(secret.value(forKey: "tls.key") == [0, 1, 2, 255])

        let manifest = try KubernetesDecoder.decode(Secret.self, yaml: """
            metadata: {name: token}
            data: {a: YWFh}
            stringData: {a: override, b: plain}
            """)
        #expect(manifest.type == "Opaque")
        #expect(manifest.value(forKey: "a") == Array("override".utf8))
        #expect(manifest.value(forKey: "b") == Array("plain".utf8))
        #expect(manifest.value(forKey: "c") == nil)

        #expect {
            try KubernetesDecoder.decode(Secret.self, yaml: "metadata: {name: bad}\ndata: {key: '!!not base64'}")
        } throws: { error in
            guard case KubernetesDecodingError.invalidObject(let problem) = error else { return false }
            return problem.fieldPath == "data.key" && problem.name == "bad"
        }
    }

    // MARK: Istio

    /// Every load-balancer variant, each in JSON and in YAML.
    static let loadBalancerCases: [(json: String, yaml: String, expected: DestinationRule.LoadBalancerSettings)] = [
        (#"{"simple":"ROUND_ROBIN"}"#, "simple: ROUND_ROBIN", .simple(.roundRobin)),
        (#"{"simple":"RANDOM"}"#, "simple: RANDOM", .simple(.random)),
        (#"{"simple":"LEAST_REQUEST"}"#, "simple: LEAST_REQUEST", .simple(.leastRequest)),
        (#"{"simple":"LEAST_CONN"}"#, "simple: LEAST_CONN", .simple(.leastConn)),
        (#"{"simple":"PASSTHROUGH"}"#, "simple: PASSTHROUGH", .simple(.passthrough)),
        (#"{"consistentHash":{"httpHeaderName":"x-user"}}"#, "consistentHash: {httpHeaderName: x-user}",
         .consistentHash(.init(key: .httpHeaderName("x-user")))),
        (#"{"consistentHash":{"httpCookie":{"name":"sid","path":"/","ttl":"0s"}}}"#,
         "consistentHash: {httpCookie: {name: sid, path: /, ttl: 0s}}",
         .consistentHash(.init(key: .httpCookie(.init(name: "sid", path: "/", ttl: .nanoseconds(0)))))),
        (#"{"consistentHash":{"httpCookie":{"name":"sid","ttl":"1h"}}}"#,
         "consistentHash: {httpCookie: {name: sid, ttl: 1h}}",
         .consistentHash(.init(key: .httpCookie(.init(name: "sid", ttl: .hours(1)))))),
        (#"{"consistentHash":{"useSourceIp":true,"minimumRingSize":2048}}"#,
         "consistentHash: {useSourceIp: true, minimumRingSize: 2048}",
         .consistentHash(.init(key: .sourceIP, minimumRingSize: 2048))),
        (#"{"consistentHash":{"httpQueryParameterName":"user","minimumRingSize":"512"}}"#,
         "consistentHash: {httpQueryParameterName: user}",
         .consistentHash(.init(key: .httpQueryParameterName("user"), minimumRingSize: nil))),
    ]

    @Test(arguments: 0..<KubernetesModelTests.loadBalancerCases.count)
    func destinationRuleLoadBalancer(case index: Int) throws {
        let (json, yaml, expected) = Self.loadBalancerCases[index]
        let fromJSON = try KubernetesObject.decode(json: Array("""
            {"apiVersion":"networking.istio.io/v1beta1","kind":"DestinationRule",
             "metadata":{"name":"dr","namespace":"shop"},
             "spec":{"host":"web.shop.svc.cluster.local","trafficPolicy":{"loadBalancer":\(json)}}}
            """.utf8))
        let fromYAML = try KubernetesObject.decode(yaml: """
            apiVersion: networking.istio.io/v1alpha3
            kind: DestinationRule
            metadata: {name: dr, namespace: shop}
            spec:
              host: web.shop.svc.cluster.local
              trafficPolicy:
                loadBalancer:
                  \(yaml)
            """)
        for object in [fromJSON, fromYAML] {
            guard case .destinationRule(let rule) = object else {
                Issue.record("not decoded as a DestinationRule: \(object)")
                continue
            }
            #expect(rule.spec.host == "web.shop.svc.cluster.local")
            if case .consistentHash(let hash) = expected, index == 9, object == fromJSON {
                // JSON carried the ring size as a protobuf-style string.
                #expect(rule.spec.trafficPolicy?.loadBalancer == .consistentHash(.init(key: hash.key, minimumRingSize: 512)))
            } else {
                #expect(rule.spec.trafficPolicy?.loadBalancer == expected)
            }
        }
    }

    @Test func outlierDetectionIsReadWithIstiosDefaultsAndSurvivesTheSnapshot() throws {
        let rule = try KubernetesDecoder.decode(DestinationRule.self, yaml: """
            metadata: {name: dr}
            spec:
              host: web
              trafficPolicy:
                outlierDetection: {consecutive5xxErrors: 7, consecutiveGatewayErrors: 3, baseEjectionTime: 1m, minHealthPercent: 50}
            """)
        let detection = try #require(rule.spec.trafficPolicy?.outlierDetection)
        #expect(detection == DestinationRule.OutlierDetection(
            consecutiveErrors: 3, baseEjectionTime: .seconds(60), maxEjectionPercent: 10, minHealthPercent: 50))
        let bytes = try JSONEncoder().encode(rule)
        #expect(try KubernetesDecoder.decode(DestinationRule.self, json: Array(bytes)) == rule)
        // Istio's defaults when only the section is there.
        let bare = try KubernetesDecoder.decode(DestinationRule.self, yaml: "metadata: {name: dr}\nspec: {host: web, trafficPolicy: {outlierDetection: {}}}")
        #expect(bare.spec.trafficPolicy?.outlierDetection == DestinationRule.OutlierDetection())
        #expect(throws: (any Error).self) {
            try KubernetesDecoder.decode(DestinationRule.self, yaml: "metadata: {name: dr}\nspec: {host: web, trafficPolicy: {outlierDetection: {maxEjectionPercent: 150}}}")
        }
    }

    @Test func destinationRuleDefaultsSubsetsAndInvalidPolicies() throws {
        let rule = try KubernetesDecoder.decode(DestinationRule.self, yaml: """
            metadata: {name: dr}
            spec:
              host: web
              trafficPolicy:
                loadBalancer: {consistentHash: {httpHeaderName: x-id}}
                connectionPool: {tcp: {maxConnections: 10}}
              subsets:
              - name: v1
                labels: {version: v1}
              - name: v2
                labels: {version: v2}
                trafficPolicy: {loadBalancer: {simple: RANDOM}}
            """)
        guard case .consistentHash(let hash) = rule.spec.trafficPolicy?.loadBalancer else {
            Issue.record("expected consistent hashing")
            return
        }
        #expect(hash.minimumRingSize == 1024)
        #expect(rule.spec.subsets.map(\.labels) == [["version": "v1"], ["version": "v2"]])
        #expect(rule.spec.loadBalancer(forSubset: "v2") == .simple(.random))
        #expect(rule.spec.loadBalancer(forSubset: "v1") == .consistentHash(hash))
        #expect(rule.spec.loadBalancer(forSubset: nil) == .consistentHash(hash))

        let localityOnly = try KubernetesDecoder.decode(DestinationRule.self, yaml: """
            metadata: {name: dr}
            spec: {host: web, trafficPolicy: {loadBalancer: {localityLbSetting: {enabled: true}}}}
            """)
        #expect(localityOnly.spec.trafficPolicy?.loadBalancer == nil)

        let invalid: [(String, String)] = [
            ("{simple: ROUND_ROBIN, consistentHash: {useSourceIp: true}}", "spec.trafficPolicy.loadBalancer.consistentHash"),
            ("{consistentHash: {minimumRingSize: 10}}", "spec.trafficPolicy.loadBalancer.consistentHash"),
            ("{consistentHash: {httpHeaderName: a, useSourceIp: true}}", "spec.trafficPolicy.loadBalancer.consistentHash"),
            ("{consistentHash: {httpCookie: {name: c, ttl: 10 minutes}}}", "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.ttl"),
            ("{simple: FASTEST}", "spec.trafficPolicy.loadBalancer.simple"),
        ]
        for (policy, path) in invalid {
            #expect {
                try KubernetesDecoder.decode(DestinationRule.self, yaml: """
                    metadata: {name: bad}
                    spec: {host: web, trafficPolicy: {loadBalancer: \(policy)}}
                    """)
            } throws: { error in
                guard case KubernetesDecodingError.invalidObject(let problem) = error else { return false }
                return problem.fieldPath == path
            }
        }
    }

    @Test func virtualServiceRoutes() throws {
        guard case .virtualService(let service) = try KubernetesObject.decode(yaml: """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: shop, namespace: gw}
            spec:
              hosts: ["shop.example.com"]
              gateways: [gw/edge-gateway]
              http:
              - name: api
                match:
                - uri: {prefix: /api}
                - uri: {exact: /healthz}
                - uri: {regex: "^/v[0-9]+/"}
                  headers: {x-canary: {exact: "1"}}
                route:
                - destination: {host: api.shop.svc.cluster.local, subset: v1, port: {number: 8080}}
                  weight: 90
                - destination: {host: api.shop.svc.cluster.local, subset: v2}
                  weight: 10
              - route:
                - destination: {host: web}
              tcp:
              - match: [{port: 3306}]
                route:
                - destination: {host: mysql.data.svc.cluster.local, port: {number: 3306}}
            """) else {
            Issue.record("not decoded as a VirtualService")
            return
        }
        #expect(service.spec.hosts == ["shop.example.com"])
        #expect(service.spec.gateways == ["gw/edge-gateway"])
        let api = service.spec.http[0]
        #expect(api.name == "api")
        #expect(api.match.map(\.uri) == [.prefix("/api"), .exact("/healthz"), .regex("^/v[0-9]+/")])
        #expect(api.route[0].destination == .init(host: "api.shop.svc.cluster.local", subset: "v1", port: 8080))
        #expect(api.route.effectiveWeights == [90, 10])
        #expect(service.spec.http[1].match.isEmpty)
        #expect(service.spec.http[1].route.effectiveWeights == [100])
        #expect(service.spec.tcp[0].match == [.init(port: 3306)])
        #expect(service.spec.tcp[0].route[0].destination.port == 3306)

        // The same object as the API server sends it.
        let json = try KubernetesDecoder.decode(VirtualService.self, json: Array("""
            {"metadata":{"name":"shop"},"spec":{"hosts":["shop.example.com"],
             "http":[{"match":[{"uri":{"prefix":"/"}}],"route":[{"destination":{"host":"web","port":{"number":80}}}]}]}}
            """.utf8))
        #expect(json.spec.http[0].route[0].destination == .init(host: "web", port: 80))
        #expect(json.spec.gateways.isEmpty)

        #expect(throws: KubernetesDecodingError.self) {
            try KubernetesDecoder.decode(VirtualService.self, yaml: """
                metadata: {name: bad}
                spec: {http: [{match: [{uri: {prefix: /a, exact: /a}}], route: [{destination: {host: web}}]}]}
                """)
        }
    }

    @Test func gatewayServersAndTLS() throws {
        let gateway = try KubernetesDecoder.decode(Gateway.self, json: Array("""
            {"apiVersion":"networking.istio.io/v1beta1","kind":"Gateway","metadata":{"name":"edge-gateway","namespace":"gw"},
             "spec":{"selector":{"kubeedge":"edgemesh-gateway"},
              "servers":[{"port":{"number":80,"name":"http","protocol":"HTTP"},"hosts":["*"]},
                         {"port":{"number":443,"name":"https","protocol":"https"},"hosts":["shop.example.com"],
                          "tls":{"mode":"SIMPLE","credentialName":"shop-cert"}},
                         {"port":{"number":8443,"name":"tls","protocol":"TLS"},"hosts":["*"],"tls":{}}]}}
            """.utf8))
        #expect(gateway.spec.selector == ["kubeedge": "edgemesh-gateway"])
        #expect(gateway.spec.servers.map(\.port.number) == [80, 443, 8443])
        #expect(gateway.spec.servers[0].tls == nil)
        #expect(gateway.spec.servers[1].port.normalizedProtocol == "HTTPS")
        #expect(gateway.spec.servers[1].tls?.mode == .simple)
        #expect(gateway.spec.servers[1].tls?.credentialName == "shop-cert")
        #expect(gateway.spec.servers[2].tls?.mode == .passthrough)

        guard case .gateway(let fromYAML) = try KubernetesObject.decode(yaml: """
            apiVersion: networking.istio.io/v1alpha3
            kind: Gateway
            metadata: {name: edge-gateway, namespace: gw}
            spec:
              selector: {kubeedge: edgemesh-gateway}
              servers:
              - port: {number: 80, name: http, protocol: HTTP}
                hosts: ["*"]
              - port: {number: 443, name: https, protocol: HTTPS}
                hosts: [shop.example.com]
                tls: {mode: SIMPLE, credentialName: shop-cert}
              - port: {number: 8443, name: tls, protocol: TLS}
                hosts: ["*"]
                tls: {}
            """) else {
            Issue.record("not decoded as a Gateway")
            return
        }
        #expect(fromYAML.spec.servers.map(\.tls) == gateway.spec.servers.map(\.tls))
        #expect(fromYAML.spec.servers.map(\.hosts) == gateway.spec.servers.map(\.hosts))
    }

    @Test func istioDurations() throws {
        #expect(try IstioDuration.parse("0s") == .nanoseconds(0))
        #expect(try IstioDuration.parse("10s") == .seconds(10))
        #expect(try IstioDuration.parse("1.5s") == .milliseconds(1500))
        #expect(try IstioDuration.parse("10m") == .minutes(10))
        #expect(try IstioDuration.parse("1h") == .hours(1))
        #expect(try IstioDuration.parse("1h30m") == .minutes(90))
        #expect(try IstioDuration.parse("250ms") == .milliseconds(250))
        #expect(try IstioDuration.parse("3us") == .microseconds(3))
        #expect(try IstioDuration.parse("0.000000001s") == .nanoseconds(1))
        #expect(try IstioDuration.parse(".5h") == .minutes(30))

        let bad: [(String, IstioDurationError)] = [
            ("", .empty),
            ("10", .missingUnit("10")),
            ("1.5", .missingUnit("1.5")),
            ("s", .invalidNumber("s")),
            ("1..5s", .invalidNumber("1..5s")),
            ("-1s", .signed("-1s")),
            ("10 s", .unknownUnit("10 s", unit: " s")),
            ("3d", .unknownUnit("3d", unit: "d")),
            ("1h30", .missingUnit("1h30")),
            ("9999999999999h", .outOfRange("9999999999999h")),
        ]
        for (text, expected) in bad {
            #expect(throws: expected) { try IstioDuration.parse(text) }
        }
    }

    // MARK: Lists, watch events and malformed input

    @Test func listWithOneMalformedItemKeepsTheRestAndNamesTheField() throws {
        let json = """
        {"apiVersion":"v1","kind":"ServiceList","metadata":{"resourceVersion":"900"},"items":[
          {"metadata":{"name":"a","namespace":"ns"},"spec":{"ports":[{"port":80}]}},
          {"kind":"Service","metadata":{"name":"b","namespace":"ns"},"spec":{"ports":[{"name":"http","port":"eighty"}]}},
          {"metadata":{"name":"c","namespace":"ns"},"spec":{"type":"Magic"}},
          {"spec":{}},
          {"metadata":{"name":"d","namespace":"ns"}}
        ]}
        """
        let list = try KubernetesDecoder.decodeList(Service.self, json: ByteBuffer(string: json))
        #expect(list.resourceVersion == "900")
        #expect(list.items.map(\.metadata.name) == ["a", "d"])
        #expect(list.skipped.map(\.index) == [1, 2, 3])
        #expect(list.skipped.map(\.fieldPath) == ["spec.ports[0].port", "spec.type", "metadata"])
        #expect(list.skipped[0].kind == "Service")
        #expect(list.skipped[0].name == "b")
        #expect(list.skipped[0].namespace == "ns")
        #expect(list.skipped[0].description.contains("item 1 (Service ns/b) field spec.ports[0].port"))
        #expect(list.skipped[2].reason == "required field is missing")

        let yamlList = try KubernetesDecoder.decodeList(Pod.self, yaml: """
            apiVersion: v1
            kind: PodList
            metadata: {resourceVersion: "7"}
            items:
            - metadata: {name: ok}
            - metadata: {name: broken}
              status: {podIPs: [{address: 10.0.0.1}]}
            """)
        #expect(yamlList.items.map(\.metadata.name) == ["ok"])
        #expect(yamlList.skipped.map(\.fieldPath) == ["status.podIPs[0].ip"])
        #expect(yamlList.skipped.map(\.name) == ["broken"])
    }

    @Test func malformedTopLevelDocumentsGiveTypedErrors() {
        #expect(throws: KubernetesDecodingError.invalidObject(DecodingProblem(
            kind: "Service", namespace: "ns", name: "x", fieldPath: "spec.ports[0].port", reason: "required field is missing"))
        ) {
            try KubernetesObject.decode(json: Array("""
                {"apiVersion":"v1","kind":"Service","metadata":{"name":"x","namespace":"ns"},"spec":{"ports":[{"name":"a"}]}}
                """.utf8))
        }
        #expect {
            try KubernetesObject.decode(json: Array(#"{"apiVersion":"v1","kind":"Service","metadata":"#.utf8))
        } throws: { error in
            guard case KubernetesDecodingError.notWellFormed(.json, _) = error else { return false }
            return true
        }
        #expect {
            try KubernetesObject.decode(yaml: "kind: Service\nmetadata: {name: [unclosed\n")
        } throws: { error in
            guard case KubernetesDecodingError.notWellFormed(.yaml, _) = error else { return false }
            return true
        }
        #expect {
            try KubernetesObject.decode(yaml: "kind: Service\nmetadata: {name: x}\n")
        } throws: { error in
            guard case KubernetesDecodingError.invalidObject(let problem) = error else { return false }
            return problem.fieldPath == "apiVersion" && problem.kind == "Service" && problem.name == "x"
        }
    }

    @Test func unknownKindsAreKeptAsUnknown() throws {
        #expect(try KubernetesObject.decode(yaml: """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web}
            spec: {replicas: 3}
            """) == .unknown(apiVersion: "apps/v1", kind: "Deployment", name: "web"))
        // A known kind under an API version this model does not speak is not guessed at.
        #expect(try KubernetesObject.decode(json: Array("""
            {"apiVersion":"discovery.k8s.io/v1beta1","kind":"EndpointSlice","metadata":{"name":"s"},"addressType":"IPv4"}
            """.utf8)) == .unknown(apiVersion: "discovery.k8s.io/v1beta1", kind: "EndpointSlice", name: "s"))
    }

    @Test func multiDocumentManifestsSkipOnlyTheBadDocument() throws {
        let (objects, skipped) = try KubernetesObject.decodeDocuments(yaml: """
            apiVersion: v1
            kind: Service
            metadata: {name: web}
            spec: {ports: [{port: 80}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: broken}
            spec: {ports: [{port: many}]}
            ---
            apiVersion: v1
            kind: List
            items:
            - apiVersion: v1
              kind: Node
              metadata: {name: edge-1}
            - apiVersion: networking.istio.io/v1beta1
              kind: Gateway
              metadata: {name: g}
              spec: {servers: [{port: {protocol: HTTP}, hosts: ["*"]}]}
            ---
            """)
        #expect(objects.map(\.kind) == ["Service", "Node"])
        #expect(objects.compactMap(\.metadata?.name) == ["web", "edge-1"])
        #expect(skipped.map(\.document) == [1, 2])
        #expect(skipped.map(\.fieldPath) == ["spec.ports[0].port", "spec.servers[0].port.number"])
        #expect(skipped.map(\.name) == ["broken", "g"])
        #expect(skipped[1].index == 1)
    }

    @Test func watchEvents() throws {
        let added = try KubernetesDecoder.decode(KubernetesWatchEvent<Service>.self, json: Array("""
            {"type":"ADDED","object":{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","resourceVersion":"11"},"spec":{"clusterIP":"10.96.0.5"}}}
            """.utf8))
        #expect(added.object?.spec.clusterIP == "10.96.0.5")
        guard case .added = added else {
            Issue.record("expected ADDED, got \(added)")
            return
        }
        let deleted = try KubernetesDecoder.decode(KubernetesWatchEvent<KubernetesObject>.self, json: Array("""
            {"type":"DELETED","object":{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"s"},"addressType":"IPv4"}}
            """.utf8))
        guard case .deleted(.endpointSlice(let slice)) = deleted else {
            Issue.record("expected a deleted EndpointSlice, got \(deleted)")
            return
        }
        #expect(slice.endpoints.isEmpty)

        let bookmark = try KubernetesDecoder.decode(KubernetesWatchEvent<Service>.self, json: Array("""
            {"type":"BOOKMARK","object":{"kind":"Service","apiVersion":"v1","metadata":{"resourceVersion":"12345","annotations":{"k8s.io/initial-events-end":"true"}}}}
            """.utf8))
        #expect(bookmark == .bookmark(resourceVersion: "12345"))

        let gone = try KubernetesDecoder.decode(KubernetesWatchEvent<Service>.self, json: Array("""
            {"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
             "message":"too old resource version: 1 (377360)","reason":"Expired","code":410}}
            """.utf8))
        guard case .error(let status) = gone else {
            Issue.record("expected ERROR, got \(gone)")
            return
        }
        #expect(status.code == 410)
        #expect(status.isGone)
        #expect(status.message == "too old resource version: 1 (377360)")

        #expect {
            try KubernetesDecoder.decode(KubernetesWatchEvent<Service>.self, json: Array(#"{"type":"RENAMED","object":{}}"#.utf8))
        } throws: { error in
            guard case KubernetesDecodingError.invalidObject(let problem) = error else { return false }
            return problem.fieldPath == "type"
        }
    }

    /// Which ports the proxy speaks HTTP/2 to, as Istio selects a port's protocol.
    @Test func http2PortsAreKnownByAppProtocolOrName() {
        func speaks(_ name: String?, _ appProtocol: String? = nil) -> Bool {
            ServicePort(name: name, port: 80, appProtocol: appProtocol).speaksHTTP2
        }
        #expect(speaks("grpc") && speaks("grpc-api") && speaks("http2") && speaks("h2c-internal"))
        #expect(!speaks("grpcx") && !speaks("http") && !speaks(nil) && !speaks("web-grpc"))
        #expect(speaks("web", "kubernetes.io/h2c") && speaks(nil, "GRPC") && speaks("http", "http2"))
        #expect(!speaks("grpc", "http"), "appProtocol wins over the name")
    }
}
