import Mesh
import NIOCore
import NIOEmbedded
import Testing

/// The cluster zone as `ClusterDNSResolver` answers it, from a table on an `EmbeddedEventLoop`.
@Suite struct ClusterDNSResolverTests {
    static func name(_ text: String) -> DNSName { try! DNSName(text) }

    static func query(_ text: String, _ type: DNSRecordType, id: UInt16 = 7, edns: DNSEDNS? = nil) -> DNSMessage {
        DNSMessage(header: DNSHeader(id: id, isRecursionDesired: true),
                   questions: [DNSQuestion(name: name(text), type: type)], edns: edns)
    }

    static func service(
        _ name: String, namespace: String = "default", clusterIP: String? = nil, clusterIPs: [String] = [],
        type: Service.ServiceType? = nil, externalName: String? = nil, ports: [ServicePort] = []
    ) -> KubernetesObject {
        .service(Service(
            metadata: ObjectMeta(name: name, namespace: namespace),
            spec: Service.Spec(type: type, clusterIP: clusterIP, clusterIPs: clusterIPs, ports: ports,
                               externalName: externalName)))
    }

    /// A table with a ClusterIP service, a dual-stack one, a headless one (two ready endpoints,
    /// one with a hostname, and one not ready), an ExternalName one and a pod.
    static func table() -> ServiceTable {
        let table = ServiceTable(eventLoop: EmbeddedEventLoop())
        table.apply(.upsert(service(
            "web", clusterIP: "10.96.0.10",
            ports: [ServicePort(name: "http", port: 80), ServicePort(name: "dns", protocol: .udp, port: 53)])))
        table.apply(.upsert(service("dual", clusterIP: "10.96.0.11", clusterIPs: ["10.96.0.11", "fd00::11"])))
        table.apply(.upsert(service("db", clusterIP: "None", ports: [ServicePort(name: "pg", port: 5432)])))
        table.apply(.upsert(.endpoints(Endpoints(
            metadata: ObjectMeta(name: "db", namespace: "default"),
            subsets: [Endpoints.Subset(
                addresses: [Endpoints.Address(ip: "10.0.0.20"), Endpoints.Address(ip: "10.0.0.3", hostname: "db-0")],
                notReadyAddresses: [Endpoints.Address(ip: "10.0.0.99")],
                ports: [Endpoints.Port(name: "pg", port: 15432)])]))))
        table.apply(.upsert(service("ext", type: .externalName, externalName: "api.example.com")))
        table.apply(.upsert(.pod(Pod(
            metadata: ObjectMeta(name: "client", namespace: "apps"),
            status: Pod.Status(phase: .running, podIP: "10.0.1.5", podIPs: ["10.0.1.5"])))))
        return table
    }

    static func resolver(_ configuration: ClusterDNSConfiguration = ClusterDNSConfiguration()) -> ClusterDNSResolver {
        ClusterDNSResolver(table: table(), configuration: configuration)
    }

    static func ask(_ text: String, _ type: DNSRecordType, _ resolver: ClusterDNSResolver = resolver()) throws
        -> DNSMessage
    {
        try #require(resolver.respond(to: query(text, type)))
    }

    @Test func aClusterIPServiceAnswersItsAddressAuthoritatively() throws {
        let response = try Self.ask("web.default.svc.cluster.local", .a)
        #expect(response.header.id == 7)
        #expect(response.header.isResponse && response.header.isAuthoritativeAnswer)
        #expect(response.header.responseCode == .noError)
        #expect(response.answers == [DNSResourceRecord(
            name: Self.name("web.default.svc.cluster.local"), ttl: 30, data: .a(IPv4Address(10, 96, 0, 10)))])
    }

    @Test func aaaaComesFromAnIPv6ClusterIPAndIsNODATAWithoutOne() throws {
        let dual = try Self.ask("dual.default.svc.cluster.local", .aaaa)
        #expect(dual.answers.map(\.data) == [.aaaa(IPv6Address(high: 0xfd00_0000_0000_0000, low: 0x11))])
        let web = try Self.ask("web.default.svc.cluster.local", .aaaa)
        #expect(web.header.responseCode == .noError)
        #expect(web.answers.isEmpty)
        #expect(web.authorities.map(\.type) == [.soa])
    }

    @Test func aHeadlessServiceAnswersEveryReadyEndpointInAddressOrder() throws {
        let response = try Self.ask("db.default.svc.cluster.local", .a)
        // Numeric order (10.0.0.3 before 10.0.0.20), and the not-ready 10.0.0.99 left out.
        #expect(response.answers.map(\.data) == [.a(IPv4Address(10, 0, 0, 3)), .a(IPv4Address(10, 0, 0, 20))])
    }

    @Test func headlessEndpointsAnswerByHostnameOrDashedAddress() throws {
        let named = try Self.ask("db-0.db.default.svc.cluster.local", .a)
        #expect(named.answers.map(\.data) == [.a(IPv4Address(10, 0, 0, 3))])
        let dashed = try Self.ask("10-0-0-20.db.default.svc.cluster.local", .a)
        #expect(dashed.answers.map(\.data) == [.a(IPv4Address(10, 0, 0, 20))])
        #expect(try Self.ask("db-9.db.default.svc.cluster.local", .a).header.responseCode == .nameError)
    }

    @Test func srvForANamedPortOfAClusterIPService() throws {
        let response = try Self.ask("_http._tcp.web.default.svc.cluster.local", .srv)
        let target = Self.name("web.default.svc.cluster.local")
        #expect(response.answers.map(\.data) == [.srv(priority: 0, weight: 100, port: 80, target: target)])
        #expect(response.additionals == [DNSResourceRecord(name: target, ttl: 30, data: .a(IPv4Address(10, 96, 0, 10)))])
        // The UDP port answers under _udp only.
        #expect(try Self.ask("_dns._udp.web.default.svc.cluster.local", .srv).answers.count == 1)
        #expect(try Self.ask("_dns._tcp.web.default.svc.cluster.local", .srv).header.responseCode == .nameError)
        // `_tcp.web...` exists (an empty non-terminal): NODATA, not NXDOMAIN.
        let middle = try Self.ask("_tcp.web.default.svc.cluster.local", .a)
        #expect(middle.header.responseCode == .noError && middle.answers.isEmpty)
    }

    @Test func srvForAHeadlessServiceNamesEachEndpoint() throws {
        let response = try Self.ask("_pg._tcp.db.default.svc.cluster.local", .srv)
        #expect(response.answers.map(\.data) == [
            .srv(priority: 0, weight: 50, port: 15432, target: Self.name("db-0.db.default.svc.cluster.local")),
            .srv(priority: 0, weight: 50, port: 15432, target: Self.name("10-0-0-20.db.default.svc.cluster.local")),
        ])
        #expect(response.additionals.map(\.name) == [
            Self.name("db-0.db.default.svc.cluster.local"), Self.name("10-0-0-20.db.default.svc.cluster.local")])
    }

    @Test func externalNameIsACNAME() throws {
        let response = try Self.ask("ext.default.svc.cluster.local", .a)
        #expect(response.answers.map(\.data) == [.cname(Self.name("api.example.com"))])
    }

    @Test func podRecordsAnswerOnlyForPodsInThatNamespace() throws {
        let response = try Self.ask("10-0-1-5.apps.pod.cluster.local", .a)
        #expect(response.answers.map(\.data) == [.a(IPv4Address(10, 0, 1, 5))])
        #expect(try Self.ask("10-0-1-5.default.pod.cluster.local", .a).header.responseCode == .nameError)
        #expect(try Self.ask("10-0-1-6.apps.pod.cluster.local", .a).header.responseCode == .nameError)
    }

    @Test func ptrForClusterAndPodIPsAndNothingForOthers() throws {
        let resolver = Self.resolver()
        let service = try Self.ask("10.0.96.10.in-addr.arpa", .ptr, resolver)
        #expect(service.answers.map(\.data) == [.ptr(Self.name("web.default.svc.cluster.local"))])
        let pod = try Self.ask("5.1.0.10.in-addr.arpa", .ptr, resolver)
        #expect(pod.answers.map(\.data) == [.ptr(Self.name("10-0-1-5.apps.pod.cluster.local"))])
        let v6 = "1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa"
        #expect(try Self.ask(v6, .ptr, resolver).answers.map(\.data) == [.ptr(Self.name("dual.default.svc.cluster.local"))])
        #expect(resolver.respond(to: Self.query("9.9.9.9.in-addr.arpa", .ptr)) == nil)
    }

    @Test func nxdomainAndNODATABothCarryTheSOAWithTheNegativeTTL() throws {
        let resolver = Self.resolver(ClusterDNSConfiguration(ttl: 5, negativeTTL: 12))
        let missing = try Self.ask("nope.default.svc.cluster.local", .a, resolver)
        #expect(missing.header.responseCode == .nameError)
        #expect(missing.answers.isEmpty)
        let soa = try #require(missing.authorities.first)
        #expect(missing.authorities.count == 1)
        #expect(soa.name == Self.name("cluster.local") && soa.ttl == 12)
        guard case .soa(_, _, _, _, _, _, let minimum) = soa.data else {
            Issue.record("authority is \(soa.data), not an SOA")
            return
        }
        #expect(minimum == 12)
        let noData = try Self.ask("web.default.svc.cluster.local", .mx, resolver)
        #expect(noData.header.responseCode == .noError && noData.answers.isEmpty)
        #expect(noData.authorities == [soa])
        #expect(try Self.ask("web.default.svc.cluster.local", .a, resolver).answers.first?.ttl == 5)
        // An empty namespace does not exist; one with services does.
        #expect(try Self.ask("empty.svc.cluster.local", .a, resolver).header.responseCode == .nameError)
        #expect(try Self.ask("default.svc.cluster.local", .a, resolver).header.responseCode == .noError)
    }

    @Test func matchingIgnoresCaseAndAnswersKeepTheAskedSpelling() throws {
        let response = try Self.ask("WeB.Default.SVC.Cluster.Local", .a)
        #expect(response.answers.count == 1)
        #expect(response.answers.first?.name.description == "WeB.Default.SVC.Cluster.Local.")
    }

    @Test func otherOpcodesGetNOTIMPAndBadQuestionCountsFORMERR() throws {
        let resolver = Self.resolver()
        var notify = Self.query("web.default.svc.cluster.local", .soa)
        notify.header.opcode = .notify
        #expect(resolver.respond(to: notify)?.header.responseCode == .notImplemented)
        var empty = Self.query("web.default.svc.cluster.local", .a)
        empty.questions = []
        #expect(resolver.respond(to: empty)?.header.responseCode == .formatError)
        let badVersion = Self.query("web.default.svc.cluster.local", .a, edns: DNSEDNS(version: 1))
        #expect(resolver.respond(to: badVersion)?.header.responseCode == .badVersion)
    }

    @Test func undecodableBytesGetFORMERROnlyWhenTheHeaderIsReadable() throws {
        var bytes = ByteBuffer(bytes: [0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05])
        #expect(throws: DNSDecodingError.self) { try DNSMessage(decoding: bytes) }
        let response = try #require(ClusterDNSResolver.formatErrorResponse(toUndecodable: bytes))
        #expect(response.header.id == 0x1234 && response.header.isResponse && response.header.isRecursionDesired)
        #expect(response.header.responseCode == .formatError)
        bytes = ByteBuffer(bytes: [0x12, 0x34, 0x01])
        #expect(ClusterDNSResolver.formatErrorResponse(toUndecodable: bytes) == nil)
        // A response (QR set) is never answered, lest two servers bounce errors forever.
        bytes = ByteBuffer(bytes: [0x12, 0x34, 0x81, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00])
        #expect(ClusterDNSResolver.formatErrorResponse(toUndecodable: bytes) == nil)
    }

    @Test func namesOutsideTheZoneAreLeftToTheCaller() {
        #expect(Self.resolver().respond(to: Self.query("example.com", .a)) == nil)
        #expect(Self.resolver().respond(to: Self.query("web.default.svc", .a)) == nil)
    }

    @Test func aConfiguredDomainReplacesClusterLocal() throws {
        let resolver = Self.resolver(ClusterDNSConfiguration(domain: Self.name("edge.internal")))
        #expect(try Self.ask("web.default.svc.edge.internal", .a, resolver).answers.count == 1)
        #expect(resolver.respond(to: Self.query("web.default.svc.cluster.local", .a)) == nil)
    }

    @Test func relativeNamesResolveThroughACNAMEWhenEnabled() throws {
        let resolver = Self.resolver(ClusterDNSConfiguration(resolvesNamesRelativeToClientNamespace: true))
        let qualified = Self.name("web.default.svc.cluster.local")
        for text in ["web.default.svc", "web.default"] {
            let response = try Self.ask(text, .a, resolver)
            #expect(response.answers.map(\.data) == [.cname(qualified), .a(IPv4Address(10, 96, 0, 10))], "\(text)")
            #expect(response.answers.last?.name == qualified)
        }
        // `example.com` would be service "example" in namespace "com": there is none, so it is not ours.
        #expect(resolver.respond(to: Self.query("example.com", .a)) == nil)
        // A bare name needs the asking pod's namespace: `apps` has no `web`, `default` has.
        #expect(resolver.respond(to: Self.query("web", .a), clientAddress: "10.0.1.5") == nil)
        let table = resolver.table
        table.apply(.upsert(Self.service("web", namespace: "apps", clusterIP: "10.96.1.1")))
        let bare = try #require(resolver.respond(to: Self.query("web", .a), clientAddress: "10.0.1.5"))
        #expect(bare.answers.map(\.data) == [.cname(Self.name("web.apps.svc.cluster.local")), .a(IPv4Address(10, 96, 1, 1))])
        #expect(resolver.respond(to: Self.query("web", .a), clientAddress: "10.9.9.9") == nil)
    }

    @Test func ipv6TextParsesAsKubernetesWritesIt() {
        #expect(IPv6Address("fd00::11") == IPv6Address(high: 0xfd00_0000_0000_0000, low: 0x11))
        #expect(IPv6Address("::") == IPv6Address(high: 0, low: 0))
        #expect(IPv6Address("::ffff:10.0.0.1") == IPv6Address(high: 0, low: 0xffff_0a00_0001))
        #expect(IPv6Address("1:2:3:4:5:6:7:8")?.description == "1:2:3:4:5:6:7:8")
        for bad in ["", "1:2", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "g::", "1:::2", "10.0.0.1"] {
            #expect(IPv6Address(bad) == nil, "\(bad)")
        }
    }
}
