import Mesh
import NIOCore
import NIOEmbedded
import Testing

/// The service table, its change feed, manifest sets and the snapshot format, on an
/// `EmbeddedEventLoop` (the table only needs a loop to be confined to).
@Suite struct DiscoveryServiceTableTests {
    // MARK: Builders

    static func key(_ name: String, _ namespace: String = "default") -> ObjectKey {
        ObjectKey(namespace: namespace, name: name)
    }

    static func service(
        _ name: String, namespace: String = "default", clusterIP: String? = "10.96.0.10",
        labels: [String: String] = [:], publishNotReady: Bool? = nil, type: Service.ServiceType? = nil,
        externalName: String? = nil
    ) -> KubernetesObject {
        .service(Service(
            metadata: ObjectMeta(name: name, namespace: namespace, labels: labels),
            spec: Service.Spec(
                type: type, clusterIP: clusterIP, ports: [ServicePort(name: "http", port: 80)],
                externalName: externalName, publishNotReadyAddresses: publishNotReady)))
    }

    static func endpoints(_ name: String, ready: [String], notReady: [String] = []) -> KubernetesObject {
        .endpoints(Endpoints(
            metadata: ObjectMeta(name: name, namespace: "default"),
            subsets: [Endpoints.Subset(
                addresses: ready.map { Endpoints.Address(ip: $0) },
                notReadyAddresses: notReady.map { Endpoints.Address(ip: $0) },
                ports: [Endpoints.Port(name: "http", port: 8080)])]))
    }

    static func slice(_ name: String, service: String, ready: [String], notReady: [String] = []) -> KubernetesObject {
        let endpoints = ready.map { EndpointSlice.Endpoint(addresses: [$0], conditions: .init(ready: true)) }
            + notReady.map { EndpointSlice.Endpoint(addresses: [$0], conditions: .init(ready: false)) }
        return .endpointSlice(EndpointSlice(
            metadata: ObjectMeta(name: name, namespace: "default", labels: [EndpointSlice.serviceNameLabel: service]),
            addressType: .ipv4, endpoints: endpoints, ports: [EndpointSlice.Port(name: "http", port: 8080)]))
    }

    static func rule(_ name: String, namespace: String = "default", host: String) -> KubernetesObject {
        .destinationRule(DestinationRule(
            metadata: ObjectMeta(name: name, namespace: namespace),
            spec: DestinationRule.Spec(host: host, trafficPolicy: .init(loadBalancer: .simple(.random)))))
    }

    static func pod(_ name: String, ip: String, phase: Pod.Phase = .running) -> KubernetesObject {
        .pod(Pod(
            metadata: ObjectMeta(name: name, namespace: "default"),
            spec: Pod.Spec(nodeName: "edge-1"), status: Pod.Status(phase: phase, podIP: ip, podIPs: [ip])))
    }

    static func table(filter: ServiceFilter = .default, clusterDomain: String = "cluster.local") -> ServiceTable {
        ServiceTable(eventLoop: EmbeddedEventLoop(), filter: filter, clusterDomain: clusterDomain)
    }

    // MARK: Upserts, deletes, relists

    @Test func upsertUpdateAndDeleteAService() throws {
        let table = Self.table()
        let added = try #require(table.apply(.upsert(Self.service("web"))))
        #expect(added.changes == [TableObjectChange(kind: .service, key: Self.key("web"), action: .added)])
        #expect(added.revision == 1 && table.revision == 1)
        #expect(table.service(Self.key("web"))?.spec.clusterIP == "10.96.0.10")
        #expect(table.service(clusterIP: "10.96.0.10")?.key == Self.key("web"))

        // The same object again changes nothing and does not count.
        #expect(table.apply(.upsert(Self.service("web"))) == nil)
        #expect(table.revision == 1)

        let moved = try #require(table.apply(.upsert(Self.service("web", clusterIP: "10.96.0.11"))))
        #expect(moved.changes.map(\.action) == [.updated])
        #expect(table.service(clusterIP: "10.96.0.10") == nil)
        #expect(table.service(clusterIP: "10.96.0.11")?.key == Self.key("web"))

        let removed = try #require(table.apply(.delete(Self.service("web", clusterIP: "10.96.0.11"))))
        #expect(removed.changes.map(\.action) == [.removed])
        #expect(removed.revision == 3)
        #expect(table.service(Self.key("web")) == nil)
        #expect(table.service(clusterIP: "10.96.0.11") == nil)
        #expect(table.apply(.delete(Self.service("web"))) == nil)
    }

    @Test func headlessAndExternalNameServicesAreKept() {
        let table = Self.table()
        table.apply(.upsert(Self.service("db", clusterIP: "None")))
        table.apply(.upsert(Self.service("ext", clusterIP: nil, type: .externalName, externalName: "example.com")))
        #expect(table.services.map(\.key) == [Self.key("db"), Self.key("ext")])
        #expect(table.service(Self.key("db"))?.spec.isHeadless == true)
        #expect(table.service(clusterIP: "None") == nil)
    }

    @Test func replaceAllRemovesWhatIsAbsentAndReportsInKeyOrder() throws {
        let table = Self.table()
        for name in ["c", "a", "b"] {
            table.apply(.upsert(Self.service(name, clusterIP: "10.96.0.\(name.utf8.first!)")))
        }
        table.apply(.upsert(Self.pod("p", ip: "10.244.0.5")))
        let summary = try #require(table.apply(.replaceAll(kind: .service, objects: [
            Self.service("d", clusterIP: "10.96.1.1"),
            Self.service("b", clusterIP: "10.96.1.2"),
            Self.service("c", clusterIP: "10.96.0.\("c".utf8.first!)"),
            Self.pod("ignored", ip: "10.244.0.9"),  // another kind: not part of this relist
        ])))
        #expect(summary.changes == [
            TableObjectChange(kind: .service, key: Self.key("a"), action: .removed),
            TableObjectChange(kind: .service, key: Self.key("b"), action: .updated),
            TableObjectChange(kind: .service, key: Self.key("d"), action: .added),
        ])
        #expect(summary.affectedServices == [Self.key("a"), Self.key("b"), Self.key("d")])
        #expect(table.services.map(\.key.name) == ["b", "c", "d"])
        #expect(table.pods.map(\.key.name) == ["p"])
        // The same relist again is a no-op.
        #expect(table.apply(.replaceAll(kind: .service, objects: table.services.map { .service($0) })) == nil)
        #expect(table.revision == 5)
    }

    // MARK: Endpoints

    @Test func slicesArePreferredOverEndpoints() throws {
        let table = Self.table()
        table.apply(.upsert(Self.service("web")))
        table.apply(.upsert(Self.endpoints("web", ready: ["10.244.0.1"])))
        #expect(table.endpoints(of: Self.key("web")).map(\.ip) == ["10.244.0.1"])

        let summary = try #require(table.apply(.upsert(Self.slice("web-b", service: "web", ready: ["10.244.1.2"]))))
        #expect(summary.affectedServices == [Self.key("web")])
        table.apply(.upsert(Self.slice("web-a", service: "web", ready: ["10.244.1.1"])))
        let backends = table.endpoints(of: Self.key("web"))
        #expect(backends.map(\.ip) == ["10.244.1.1", "10.244.1.2"])
        #expect(backends.first?.port(named: "http") == 8080)

        // Moving a slice to another service updates both services' views.
        let moved = try #require(table.apply(.upsert(Self.slice("web-b", service: "other", ready: ["10.244.1.2"]))))
        #expect(moved.affectedServices == [Self.key("other"), Self.key("web")])
        #expect(table.endpoints(of: Self.key("web")).map(\.ip) == ["10.244.1.1"])

        table.apply(.delete(Self.slice("web-a", service: "web", ready: [])))
        #expect(table.endpoints(of: Self.key("web")).map(\.ip) == ["10.244.0.1"])
        #expect(table.endpoints(of: Self.key("absent")).isEmpty)
    }

    @Test func notReadyEndpointsOnlyWhenTheServicePublishesThem() {
        let table = Self.table()
        table.apply(.upsert(Self.service("web")))
        table.apply(.upsert(Self.endpoints("web", ready: ["10.244.0.2"], notReady: ["10.244.0.1"])))
        #expect(table.endpoints(of: Self.key("web")).map(\.ip) == ["10.244.0.2"])

        table.apply(.upsert(Self.service("web", publishNotReady: true)))
        let all = table.endpoints(of: Self.key("web"))
        #expect(all.map(\.ip) == ["10.244.0.1", "10.244.0.2"])
        #expect(all.map(\.ready) == [false, true])

        table.apply(.upsert(Self.slice("web-x", service: "web", ready: ["10.244.3.1"], notReady: ["10.244.3.2"])))
        #expect(table.endpoints(of: Self.key("web")).map(\.ip) == ["10.244.3.1", "10.244.3.2"])
        table.apply(.upsert(Self.service("web", publishNotReady: false)))
        #expect(table.endpoints(of: Self.key("web")).map(\.ip) == ["10.244.3.1"])
    }

    @Test func podsByIPPreferOnesThatHaveNotFinished() {
        let table = Self.table()
        table.apply(.upsert(Self.pod("a-old", ip: "10.244.0.7", phase: .succeeded)))
        table.apply(.upsert(Self.pod("b-new", ip: "10.244.0.7")))
        #expect(table.pod(ip: "10.244.0.7")?.key.name == "b-new")
        table.apply(.delete(Self.pod("b-new", ip: "10.244.0.7")))
        #expect(table.pod(ip: "10.244.0.7")?.key.name == "a-old")
        #expect(table.pod(ip: "10.244.0.8") == nil)
    }

    @Test func nodesAreClusterScoped() throws {
        let table = Self.table()
        let node = KubernetesObject.node(Node(metadata: ObjectMeta(name: "edge-1")))
        let summary = try #require(table.apply(.upsert(node)))
        #expect(summary.changes.map(\.key) == [ObjectKey(namespace: "", name: "edge-1")])
        #expect(table.node(named: "edge-1")?.name == "edge-1")
    }

    // MARK: DestinationRules

    @Test func destinationRulesMatchByShortOrQualifiedHostOrByName() {
        let table = Self.table()
        let web = Self.key("web", "shop")
        table.apply(.upsert(Self.service("web", namespace: "shop")))
        #expect(table.destinationRule(forService: web) == nil)

        // A short host is read in the rule's own namespace: this one means web.other.
        table.apply(.upsert(Self.rule("elsewhere", namespace: "other", host: "web")))
        #expect(table.destinationRule(forService: web) == nil)

        // Named like the service, in its namespace: EdgeMesh's pairing.
        table.apply(.upsert(Self.rule("web", namespace: "shop", host: "unrelated")))
        #expect(table.destinationRule(forService: web)?.key == Self.key("web", "shop"))

        // A qualified host from another namespace beats the name match.
        table.apply(.upsert(Self.rule("global", namespace: "mesh", host: "WEB.shop.svc.cluster.local.")))
        #expect(table.destinationRule(forService: web)?.key == Self.key("global", "mesh"))

        // A host match in the service's own namespace beats one from elsewhere.
        table.apply(.upsert(Self.rule("short", namespace: "shop", host: "web")))
        #expect(table.destinationRule(forService: web)?.key == Self.key("short", "shop"))

        for host in ["web.shop", "web.shop.svc"] {
            let other = Self.table()
            other.apply(.upsert(Self.rule("r", namespace: "x", host: host)))
            #expect(other.destinationRule(forService: web)?.key == Self.key("r", "x"), "host \(host)")
        }
        // Another cluster domain is honoured, and cluster.local then is not.
        let custom = Self.table(clusterDomain: "edge.local")
        custom.apply(.upsert(Self.rule("a", namespace: "x", host: "web.shop.svc.cluster.local")))
        #expect(custom.destinationRule(forService: web) == nil)
        custom.apply(.upsert(Self.rule("b", namespace: "x", host: "web.shop.svc.edge.local")))
        #expect(custom.destinationRule(forService: web)?.key == Self.key("b", "x"))
    }

    // MARK: Filter modes

    @Test func serviceFilterModes() throws {
        let labels = [Service.proxyNameLabel: "other-proxy"]
        let byDefault = Self.table()
        byDefault.apply(.upsert(Self.service("plain")))
        #expect(byDefault.apply(.upsert(Self.service("labelled", labels: labels))) == nil)
        #expect(byDefault.services.map(\.key.name) == ["plain"])
        // Gaining the label takes the service out of the table.
        let removed = try #require(byDefault.apply(.upsert(Self.service("plain", labels: labels))))
        #expect(removed.changes == [TableObjectChange(kind: .service, key: Self.key("plain"), action: .removed)])
        #expect(byDefault.services.isEmpty)

        let onlyLabelled = Self.table(filter: .filterIfLabelDoesNotExist)
        onlyLabelled.apply(.replaceAll(kind: .service, objects: [
            Self.service("plain"), Self.service("labelled", labels: labels),
        ]))
        #expect(onlyLabelled.services.map(\.key.name) == ["labelled"])
    }

    // MARK: Change feed

    @Test func changeFeedFiresOncePerRealChangeInOrder() {
        let table = Self.table()
        var first: [TableChangeSummary] = [], second: [Int] = []
        let subscription = table.subscribe { first.append($0) }
        table.subscribe { second.append(Int($0.revision)) }

        table.apply(.upsert(Self.service("web")))
        table.apply(.upsert(Self.service("web")))  // no-op: no call
        table.apply(.upsert(Self.endpoints("web", ready: ["10.244.0.1"])))
        table.apply(.replaceAll(kind: .service, objects: [Self.service("b", clusterIP: "10.96.0.2"), Self.service("a", clusterIP: "10.96.0.1")]))
        table.apply(.upsert(Self.endpoints("web", ready: ["10.244.0.1"])))  // no-op

        #expect(first.map(\.revision) == [1, 2, 3])
        #expect(second == [1, 2, 3])
        #expect(first[1].changes == [TableObjectChange(kind: .endpoints, key: Self.key("web"), action: .added)])
        #expect(first[2].changes.map(\.description) == [
            "added Service default/a", "added Service default/b", "removed Service default/web",
        ])

        subscription.cancel()
        table.apply(.delete(Self.service("a", clusterIP: "10.96.0.1")))
        #expect(first.count == 3)
        #expect(second == [1, 2, 3, 4])
    }

    @Test func aHandlerCancelledByAnEarlierHandlerIsNotCalled() {
        let table = Self.table()
        var calls: [String] = []
        var later: ServiceTable.Subscription?
        table.subscribe { _ in
            calls.append("first")
            later?.cancel()
        }
        later = table.subscribe { _ in calls.append("second") }
        table.apply(.upsert(Self.service("web")))
        #expect(calls == ["first"])
    }

    // MARK: Manifests

    static let manifests: [String: String] = [
        "b-services.yaml": """
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: shop}
            spec:
              clusterIP: 10.96.0.20
              ports: [{name: http, port: 80}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: broken, namespace: shop}
            spec:
              ports: [{name: http, port: eighty}]
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: shop}
            ---
            apiVersion: v1
            kind: Endpoints
            metadata: {name: web, namespace: shop}
            subsets:
            - addresses: [{ip: 10.244.0.4}]
              ports: [{name: http, port: 8080}]
            """,
        "a-rules.yaml": """
            apiVersion: networking.istio.io/v1beta1
            kind: DestinationRule
            metadata: {name: web, namespace: shop}
            spec:
              host: web
              trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
            """,
        "c-not-yaml.yaml": "key: [unclosed",
    ]

    @Test func manifestSetSkipsMalformedDocumentsAndAppliesTheRest() throws {
        let set = ManifestSet(files: Self.manifests)
        #expect(set.objectCount == 3)
        #expect(set.problems.count == 2)
        let broken = try #require(set.problems.first)
        #expect(broken.file == "b-services.yaml")
        #expect(broken.problem.document == 1)
        #expect(broken.problem.fieldPath == "spec.ports[0].port")
        #expect(broken.problem.name == "broken")
        #expect(broken.description.hasPrefix("b-services.yaml: document 1 (Service shop/broken) field spec.ports[0].port"))
        #expect(set.problems[1].file == "c-not-yaml.yaml")
        #expect(set.problems[1].problem.reason.contains("not valid YAML"))

        #expect(set.changes.count == TableObjectKind.allCases.count)
        let table = Self.table()
        for change in set.changes { table.apply(change) }
        let web = Self.key("web", "shop")
        #expect(table.services.map(\.key) == [web])
        #expect(table.endpoints(of: web).map(\.ip) == ["10.244.0.4"])
        #expect(table.destinationRule(forService: web)?.spec.loadBalancer(forSubset: nil) == .simple(.roundRobin))

        // A later set without the rule removes it; re-applying an unchanged set does nothing.
        var files = Self.manifests
        files["a-rules.yaml"] = nil
        let revision = table.revision
        for change in ManifestSet(files: files).changes { table.apply(change) }
        #expect(table.destinationRules.isEmpty)
        #expect(table.revision == revision + 1)
        for change in ManifestSet(files: files).changes { table.apply(change) }
        #expect(table.revision == revision + 1)
    }

    @Test func aDuplicateManifestObjectIsReportedAndTheLaterWins() throws {
        let service = { (ip: String) in
            "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {clusterIP: \(ip)}\n"
        }
        let set = ManifestSet(files: ["2.yaml": service("10.96.0.2"), "1.yaml": service("10.96.0.1")])
        #expect(set.problems.map(\.file) == ["2.yaml"])
        #expect(set.problems.first?.problem.reason.contains("1.yaml") == true)
        guard case .service(let web)? = set.objects[.service]?.first else {
            Issue.record("no service in \(set.objects)")
            return
        }
        #expect(web.spec.clusterIP == "10.96.0.2")
    }

    // MARK: Snapshot format

    /// One object of every kind, with the optional parts that have a wire shape of their own.
    static func everyKind() throws -> [KubernetesObject] {
        let yaml = """
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: shop, labels: {app: web}, resourceVersion: "12", uid: u-1}
            spec:
              type: NodePort
              clusterIP: 10.96.0.20
              clusterIPs: [10.96.0.20]
              ports: [{name: http, port: 80, targetPort: http, nodePort: 30080, protocol: TCP}, {name: dns, port: 53, targetPort: 5353, protocol: UDP}]
              selector: {app: web}
              sessionAffinity: ClientIP
              sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
              internalTrafficPolicy: Local
              publishNotReadyAddresses: true
            ---
            apiVersion: v1
            kind: Endpoints
            metadata: {name: web, namespace: shop}
            subsets:
            - addresses: [{ip: 10.244.0.4, nodeName: edge-1, hostname: w0, targetRef: {kind: Pod, namespace: shop, name: w0}}]
              notReadyAddresses: [{ip: 10.244.0.5}]
              ports: [{name: http, port: 8080, protocol: TCP}]
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: web-abc, namespace: shop, labels: {kubernetes.io/service-name: web}}
            addressType: IPv4
            endpoints:
            - addresses: [10.244.0.6]
              conditions: {ready: false, serving: true}
              nodeName: edge-2
              zone: z1
            ports: [{name: http, port: 8080}]
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: w0, namespace: shop}
            spec: {nodeName: edge-1, hostname: w0, subdomain: web}
            status:
              phase: Running
              podIP: 10.244.0.4
              podIPs: [{ip: 10.244.0.4}]
              conditions: [{type: Ready, status: "True"}]
            ---
            apiVersion: v1
            kind: Node
            metadata: {name: edge-1}
            spec: {podCIDR: 10.244.1.0/24, podCIDRs: [10.244.1.0/24, "fd00:1::/64"]}
            status:
              addresses: [{type: InternalIP, address: 192.168.1.10}]
              conditions: [{type: Ready, status: "True", reason: KubeletReady}]
            ---
            apiVersion: v1
            kind: Secret
            metadata: {name: tls, namespace: shop}
            type: kubernetes.io/tls
            data: {tls.crt: AAEC/w==}
            stringData: {note: hello}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: DestinationRule
            metadata: {name: web, namespace: shop}
            spec:
              host: web.shop.svc.cluster.local
              trafficPolicy:
                loadBalancer:
                  consistentHash: {httpCookie: {name: session, path: /, ttl: 1.5s}, minimumRingSize: 2048}
              subsets:
              - name: v1
                labels: {version: v1}
                trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
              - name: v2
                trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true}}}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: VirtualService
            metadata: {name: web, namespace: shop}
            spec:
              hosts: [web.example.com]
              gateways: [shop/gw]
              http:
              - name: api
                match: [{uri: {prefix: /api}}, {uri: {regex: "^/v[0-9]+"}}]
                route: [{destination: {host: web, subset: v1, port: {number: 80}}, weight: 90}, {destination: {host: web}, weight: 10}]
              tcp:
              - match: [{port: 9000}]
                route: [{destination: {host: db}}]
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: Gateway
            metadata: {name: gw, namespace: shop}
            spec:
              selector: {edgemesh: gateway}
              servers:
              - port: {number: 443, name: https, protocol: HTTPS}
                hosts: ["*"]
                tls: {mode: SIMPLE, credentialName: tls}
            """
        let (objects, skipped) = try KubernetesObject.decodeDocuments(yaml: yaml)
        #expect(skipped.isEmpty, "\(skipped)")
        return objects
    }

    @Test func aSnapshotRoundTripsEveryKindAndIsDeterministic() throws {
        let objects = try Self.everyKind()
        #expect(Set(objects.compactMap(TableObjectKind.init(of:))) == Set(TableObjectKind.allCases))
        let table = Self.table()
        for object in objects { table.apply(.upsert(object)) }
        // Asked for, the Gateway's own certificate is kept too (never by default).
        let snapshot = table.snapshot(includingSecrets: true)
        #expect(snapshot.objectCount == objects.count)
        let bytes = try snapshot.encoded()
        let decoded = try ServiceTableSnapshot.decode(bytes, key: "k")
        #expect(decoded == snapshot)

        let restored = Self.table()
        for change in decoded.changes { restored.apply(change) }
        #expect(restored.node(named: "edge-1")?.podNetworks == [IPv4Prefix("10.244.1.0/24")!],
                "a node's pod network survives the cloud being away")
        for kind in TableObjectKind.allCases {
            #expect(restored.objects(of: kind) == table.objects(of: kind), "\(kind)")
        }

        // The same content applied in another order gives the same bytes (revision aside).
        let reversed = Self.table()
        for object in objects.reversed() { reversed.apply(.upsert(object)) }
        #expect(try reversed.snapshot(includingSecrets: true).encoded() == bytes)
        let text = String(buffer: bytes)
        #expect(text.hasPrefix("{\"destinationRules\":"))
        #expect(text.contains("\"formatVersion\":1"))
    }

    @Test func aCorruptOrForeignSnapshotIsATypedError() {
        let cases: [(String, (ServiceTableSnapshotError) -> Bool)] = [
            ("not json at all", { if case .corrupt = $0 { true } else { false } }),
            ("{\"formatVersion\": 1, \"services\": 3}", { if case .corrupt = $0 { true } else { false } }),
            ("{\"formatVersion\": 7}", { $0 == .unsupportedVersion(key: "k", found: 7, supported: 1) }),
        ]
        for (text, matches) in cases {
            do throws(ServiceTableSnapshotError) {
                _ = try ServiceTableSnapshot.decode(ByteBuffer(string: text), key: "k")
                Issue.record("decoded \(text)")
            } catch {
                #expect(matches(error), "\(text): \(error)")
                #expect(error.description.contains("snapshot \"k\""))
            }
        }
    }
}
