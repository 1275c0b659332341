import Foundation
import Mesh
import NIOCore
import NetworkTopology
@testable import Scenario
import TestFixtures
import Testing

@testable import NetSim

/// What a reflector delivered, kept as the agent would keep it: name → resource version.
final class ReflectorMirror: @unchecked Sendable {
    var versions: [ObjectKey: String] = [:]
    var replaces = 0
    var events: [String] = []
    /// Resource versions of the watch events in arrival order (must only grow within one watch run).
    var eventVersions: [UInt64] = []

    func replace(_ items: [Service]) {
        replaces += 1
        versions = Dictionary(uniqueKeysWithValues: items.map { ($0.key, $0.metadata.resourceVersion ?? "") })
    }

    func apply(_ event: KubernetesReflector<Service>.Event) {
        switch event {
        case .added(let service):
            events.append("ADDED \(service.metadata.name)")
            versions[service.key] = service.metadata.resourceVersion ?? ""
            eventVersions.append(UInt64(service.metadata.resourceVersion ?? "") ?? 0)
        case .modified(let service):
            events.append("MODIFIED \(service.metadata.name)")
            versions[service.key] = service.metadata.resourceVersion ?? ""
            eventVersions.append(UInt64(service.metadata.resourceVersion ?? "") ?? 0)
        case .deleted(let service):
            events.append("DELETED \(service.metadata.name)")
            versions[service.key] = nil
            eventVersions.append(UInt64(service.metadata.resourceVersion ?? "") ?? 0)
        }
    }

    /// Sorted "namespace/name@version" lines, to compare with the server's.
    var view: [String] { versions.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" } }
}

@Suite struct KubernetesAPITests {
    static let ms = Nanoseconds.millisecond
    static let s = Nanoseconds.second

    /// The API server on a cloud LAN; the edge node behind a NAT on a lossy, jittery link.
    static func cloudAndEdge(loss: Double = 0.02) throws -> Simulator {
        let edgeLink = LinkSpec(both: LinkProfile(latency: 20 * ms, jitter: 5 * ms, loss: loss))
        return try Simulator(
            seed: 7,
            topology: TopologySpec(
                networks: [
                    .init(name: "internet", subnet: IPv4Prefix("203.0.113.0/24")!),
                    .init(name: "cloud", subnet: IPv4Prefix("10.0.0.0/24")!, router: "cloud-gw", isCloud: true),
                    .init(name: "edge", subnet: IPv4Prefix("192.168.1.0/24")!, router: "edge-nat"),
                ],
                routers: [
                    .init(name: "cloud-gw", upstream: "internet"),
                    .init(name: "edge-nat", upstream: "internet", nat: NATConfiguration()),
                ],
                nodes: [.init(name: "api", network: "cloud"), .init(name: "edge-1", network: "edge", link: edgeLink)]))
    }

    static func service(_ name: String, namespace: String = "default", port: Int = 80) -> [UInt8] {
        Array("""
            {"apiVersion":"v1","kind":"Service","metadata":{"name":"\(name)","namespace":"\(namespace)"},
             "spec":{"clusterIP":"10.96.0.\(port % 250)","ports":[{"name":"http","port":\(port),"protocol":"TCP"}]}}
            """.utf8)
    }

    static func serverView(_ server: KubernetesTestAPIServer) -> [String] {
        server.objects(of: .services).map { "\($0.key)@\($0.resourceVersion)" }
    }

    struct Harness {
        let sim: Simulator
        let server: KubernetesTestAPIServer
        let reflector: KubernetesReflector<Service>
        let mirror: ReflectorMirror
    }

    static func harness(
        sim: Simulator, server configuration: KubernetesTestAPIServer.Configuration = .init(),
        options: KubernetesAPIClient.Options = .init(), backoff: RetryBackoff = .init(), startServer: Bool = true
    ) -> Harness {
        let api = sim.host(named: "api")!, edge = sim.host(named: "edge-1")!
        let server = KubernetesTestAPIServer(host: api, configuration: configuration)
        if startServer { _ = server.start() }
        let client = KubernetesAPIClient(
            host: edge, endpoint: KubernetesAPIEndpoint(host: api.address.description, port: configuration.port), options: options)
        let mirror = ReflectorMirror()
        let reflector = KubernetesReflector<Service>(
            client: client, resource: .services, backoff: backoff,
            onReplace: { mirror.replace($0) }, onEvent: { mirror.apply($0) })
        return Harness(sim: sim, server: server, reflector: reflector, mirror: mirror)
    }

    @Test func theClientListsThenSeesEveryChangeAsAWatchEvent() throws {
        let h = Self.harness(sim: try Self.cloudAndEdge())
        try h.server.create(.services, json: Self.service("web"))
        try h.server.create(.services, json: Self.service("db", namespace: "data", port: 5432))
        h.sim.run(for: Self.ms)
        h.reflector.start()
        _ = h.sim.run(until: 10 * Self.s) { h.reflector.status.phase != .watching }
        #expect(h.mirror.replaces == 1)
        #expect(h.mirror.view == ["data/db@2", "default/web@1"])

        try h.server.create(.services, json: Self.service("cache", port: 6379))
        try h.server.update(.services, json: Self.service("web", port: 8080))
        try h.server.delete(.services, namespace: "data", name: "db")
        _ = h.sim.run(until: 30 * Self.s) { h.mirror.events.count < 3 }
        #expect(h.mirror.events == ["ADDED cache", "MODIFIED web", "DELETED db"])
        #expect(h.mirror.view == Self.serverView(h.server))
        #expect(h.reflector.status.resourceVersion == "5")
        #expect(h.reflector.status.listCount == 1)
    }

    @Test func aFlappingLinkCutsTheWatchButTheFinalViewMatchesTheServer() throws {
        let sim = try Self.cloudAndEdge(loss: 0.05)
        let h = Self.harness(
            sim: sim, server: .init(bookmarkInterval: .seconds(3)), options: .init(watchIdleTimeout: .seconds(8)))
        h.reflector.start()
        // A change every 700 ms for two minutes: creates, then updates and deletes among them.
        var names: [String] = []
        for step in 0..<170 {
            sim.schedule(at: Self.s + UInt64(step) * 700 * Self.ms) {
                if step % 5 == 4, let victim = names.first {
                    try! h.server.delete(.services, namespace: "default", name: victim)
                    names.removeFirst()
                } else if step % 3 == 2, let target = names.last {
                    try! h.server.update(.services, json: Self.service(target, port: 1000 + step))
                } else {
                    names.append("svc-\(step)")
                    try! h.server.create(.services, json: Self.service("svc-\(step)", port: 2000 + step))
                }
            }
        }
        // The edge link goes down for 12 s every 20 s: each outage outlasts the idle timeout.
        for cycle in 0..<6 {
            let start = 5 * Self.s + UInt64(cycle) * 20 * Self.s
            sim.schedule(at: start) { try! sim.setLink(of: "edge-1", direction: .both, up: false) }
            sim.schedule(at: start + 12 * Self.s) { try! sim.setLink(of: "edge-1", direction: .both, up: true) }
        }
        sim.run(until: 130 * Self.s)
        _ = sim.run(until: 400 * Self.s) { h.mirror.view != Self.serverView(h.server) }
        #expect(h.mirror.view == Self.serverView(h.server))
        #expect(h.server.objects(of: .services).count > 20)
        #expect(h.reflector.status.reconnectCount >= 6, "every outage cut the watch: \(h.reflector.status)")
        // Resumed from the last version seen, never relisted: nothing was missed or replayed twice.
        #expect(h.reflector.status.listCount == 1)
        #expect(h.mirror.eventVersions == h.mirror.eventVersions.sorted())
        #expect(Set(h.mirror.eventVersions).count == h.mirror.eventVersions.count)
    }

    @Test func aShortHistoryWindowForcesA410AndARelist() throws {
        let sim = try Self.cloudAndEdge(loss: 0)
        let h = Self.harness(
            sim: sim, server: .init(bookmarkInterval: .seconds(3), historyLimit: 3), options: .init(watchIdleTimeout: .seconds(8)))
        try h.server.create(.services, json: Self.service("web"))
        h.reflector.start()
        _ = sim.run(until: 10 * Self.s) { h.reflector.status.phase != .watching }
        let partition = try sim.partition(["edge-1"], from: ["api"])
        for step in 0..<10 {
            sim.schedule(at: sim.now + UInt64(step + 1) * Self.s) {
                try! h.server.create(.services, json: Self.service("svc-\(step)"))
            }
        }
        sim.run(for: 30 * Self.s)
        sim.heal(partition: partition)
        _ = sim.run(until: sim.now + 120 * Self.s) { h.mirror.view != Self.serverView(h.server) }
        #expect(h.mirror.view == Self.serverView(h.server))
        #expect(h.reflector.status.listCount == 2)
        #expect(h.mirror.replaces == 2)
        #expect(h.reflector.status.lastError?.contains("expired") == true, "\(h.reflector.status)")
    }

    @Test func backoffDelaysGrowAndStayUnderTheCap() throws {
        let sim = try Self.cloudAndEdge(loss: 0)
        let backoff = RetryBackoff(base: .milliseconds(500), cap: .seconds(5))
        // Nothing listens on the API port: every attempt is refused at once.
        let h = Self.harness(sim: sim, backoff: backoff, startServer: false)
        var delays: [TimeAmount] = []
        var deadlines: [NIODeadline] = []
        var listingTimes: [NIODeadline] = []
        h.reflector.onStatusChange = { status in
            switch status.phase {
            case .backingOff(let until, let delay, _):
                if deadlines.last != until {
                    delays.append(delay)
                    deadlines.append(until)
                }
            case .listing:
                if listingTimes.count == deadlines.count { listingTimes.append(sim.host(named: "edge-1")!.now) }
            default: break
            }
        }
        h.reflector.start()
        _ = sim.run(until: 600 * Self.s) { delays.count < 30 }
        #expect(delays.count == 30)
        for (attempt, delay) in delays.enumerated() {
            #expect(delay <= backoff.ceiling(attempt: attempt), "attempt \(attempt): \(delay)")
            #expect(delay <= backoff.cap)
        }
        // The first three windows are at most 0.5, 1 and 2 s; later ones reach the 5 s cap.
        #expect(delays.suffix(20).max()! > .seconds(3))
        // Each new attempt starts exactly when its backoff ends (after the first, at start).
        #expect(Array(listingTimes.dropFirst().prefix(29)) == Array(deadlines.prefix(29)))
        #expect(h.reflector.status.reconnectCount == 29)
        #expect(h.reflector.status.lastError?.contains("refused") == true, "\(h.reflector.status)")
    }

    @Test func aConfiguredBearerTokenIsSent() throws {
        let sim = try Self.cloudAndEdge(loss: 0)
        let h = Self.harness(
            sim: sim, server: .init(requiredBearerToken: "s3cret"), options: .init(bearerToken: "s3cret"))
        try h.server.create(.services, json: Self.service("web"))
        h.reflector.start()
        _ = sim.run(until: 10 * Self.s) { h.reflector.status.phase != .watching }
        sim.run(for: Self.s)
        #expect(h.mirror.view == ["default/web@1"])
        #expect(h.server.requests.count == 2)
        #expect(h.server.requests.allSatisfy { $0.headers.first(name: "Authorization") == "Bearer s3cret" })
        #expect(h.server.requests.last?.uri == "/api/v1/services?watch=true&allowWatchBookmarks=true&resourceVersion=1")

        // Without the token the server refuses, and the status says so.
        let anonymous = Self.harness(sim: sim, server: .init(port: 6444, requiredBearerToken: "s3cret"))
        anonymous.reflector.start()
        _ = sim.run(until: sim.now + 10 * Self.s) { anonymous.reflector.status.lastError == nil }
        #expect(anonymous.reflector.status.lastError?.contains("401") == true, "\(anonymous.reflector.status)")
        #expect(anonymous.mirror.replaces == 0)
    }

    @Test func aListTheRoleDoesNotGrantIsAnswered403AndTheStatusSaysSo() throws {
        let h = Self.harness(sim: try Self.cloudAndEdge(loss: 0))
        h.server.forbidden = [.init(verb: "list", resource: .services)]
        h.reflector.start()
        _ = h.sim.run(until: 10 * Self.s) { h.reflector.status.lastError == nil }
        #expect(h.reflector.status.lastError?.contains("403") == true, "\(h.reflector.status)")
        #expect(h.reflector.status.lastError?.contains("cannot list resource \"services\"") == true, "\(h.reflector.status)")
        #expect(h.mirror.replaces == 0)
        h.server.forbidden = []
        _ = h.sim.run(until: h.sim.now + 60 * Self.s) { h.reflector.status.phase != .watching }
        #expect(h.mirror.replaces == 1, "listed once the role allows it")
    }

    @Test func theMetaServerFixtureDecodesWhenServed() throws {
        let fixture = RepositoryFiles.metaServerServiceList
        let bytes = Array(try Data(contentsOf: fixture))
        let sim = try Self.cloudAndEdge(loss: 0)
        let h = Self.harness(sim: sim)
        try h.server.load(.services, listJSON: bytes)
        h.reflector.start()
        _ = sim.run(until: 10 * Self.s) { h.reflector.status.phase != .watching }
        #expect(h.mirror.view == ["default/kubernetes@147", "kube-system/kube-dns@203"])
        #expect(h.reflector.status.resourceVersion == "377360")
        // A change after loading continues the fixture's version sequence.
        try h.server.create(.services, json: Self.service("web"))
        _ = sim.run(until: sim.now + 10 * Self.s) { h.mirror.events.isEmpty }
        #expect(h.mirror.view.contains("default/web@377361"))
    }

    @Test func eventsSplitAcrossChunksOrSharingOneAreDecodedAndMalformedLinesSkipped() throws {
        let sim = try Self.cloudAndEdge(loss: 0)
        let api = sim.host(named: "api")!
        _ = api.listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: 6443))) { channel in
            channel.pipeline.addHandler(ScriptedAPIServer())
        }
        let h = Self.harness(sim: sim, startServer: false)
        h.reflector.start()
        _ = sim.run(until: 10 * Self.s) { h.mirror.events.count < 3 }
        sim.run(for: Self.s)
        #expect(h.mirror.events == ["ADDED a", "MODIFIED a", "ADDED b"])
        #expect(h.mirror.view == ["default/a@3", "default/b@4"])
        #expect(h.reflector.status.resourceVersion == "9", "the bookmark after the events moved the version on")
        #expect(h.reflector.status.phase == .watching)
    }

    @Test func agentConfigurationSelectsTheConnectionMode() throws {
        #expect(try KubernetesAPIConfiguration.parse(agentConfigYAML: "modules: {}\n").mode == .edge(metaServer: .metaServer))
        let edge = try KubernetesAPIConfiguration.parse(agentConfigYAML: """
            kubeAPIConfig:
              kubeConfig: ""
              master: ""
              metaServer:
                server: http://169.254.30.10:10550
              qps: 50
              burst: 80
            """)
        #expect(edge.mode == .edge(metaServer: KubernetesAPIEndpoint(host: "169.254.30.10", port: 10550)))
        #expect(edge.qps == 50 && edge.burst == 80)
        let master = try KubernetesAPIConfiguration.parse(agentConfigYAML: "kubeAPIConfig:\n  master: https://10.0.0.1:6443/k8s/\n")
        #expect(master.mode == .server(KubernetesAPIEndpoint(scheme: .https, host: "10.0.0.1", port: 6443, basePath: "/k8s"), bearerToken: nil))
        let kubeconfig = try KubernetesAPIConfiguration.parse(agentConfigYAML: "kubeAPIConfig:\n  kubeConfig: /root/.kube/config\n")
        #expect(kubeconfig.mode == .kubeconfig(path: "/root/.kube/config"))
        #expect(throws: KubernetesAPIConfiguration.ParseError.self) {
            try KubernetesAPIConfiguration.parse(agentConfigYAML: "kubeAPIConfig:\n  qps: many\n")
        }
        #expect(KubernetesAPIEndpoint(url: "ftp://x:1") == nil)
        #expect(KubernetesAPIEndpoint(url: "http://x:0") == nil)
    }
}

/// A hand-written API server whose watch response splits one event across two chunks, packs
/// several into another, and slips a malformed line in between.
final class ScriptedAPIServer: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var request = ""

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        request += String(buffer: unwrapInboundIn(data))
        guard request.contains("\r\n\r\n") else { return }
        let event = { (type: String, name: String, version: Int) in
            #"{"type":"\#(type)","object":{"apiVersion":"v1","kind":"Service","metadata":{"name":"\#(name)","namespace":"default","resourceVersion":"\#(version)"}}}"# + "\n"
        }
        var response: String
        if request.contains("watch=true") {
            let first = event("ADDED", "a", 2), second = event("MODIFIED", "a", 3), third = event("ADDED", "b", 4)
            let bookmark = #"{"type":"BOOKMARK","object":{"kind":"Service","metadata":{"resourceVersion":"9"}}}"# + "\n"
            let cut = second.index(second.startIndex, offsetBy: 40)
            let chunks = [
                first + second[..<cut],
                second[cut...] + "{\"type\":\"ADDED\",\"object\":{\"metadata\":42}}\nnot json at all\n" + third,
                bookmark,
            ]
            response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            for chunk in chunks { response += String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n" }
        } else {
            let body = #"{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}"#
            response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        }
        request = ""
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response)), promise: nil)
    }
}
