import Mesh
import NIOCore
import NetworkTopology
@testable import Scenario
import Testing

@testable import NetSim

/// PATCH between the API client and the test API server, the agent's tunnel-key publisher over
/// a cloud link that goes away, and the client's qps/burst limit under a relist storm.
@Suite struct KubernetesPatchTests {
    static let s = Nanoseconds.second
    static let key = TunnelPublicKeyText.encode(Array(repeating: 7, count: 32))

    struct Bed {
        let sim: Simulator
        let server: KubernetesTestAPIServer
        let client: KubernetesAPIClient
        var edge: SimHost { sim.host(named: "edge-1")! }
    }

    static func bed(loss: Double = 0, server configuration: KubernetesTestAPIServer.Configuration = .init(), options: KubernetesAPIClient.Options = .init()) throws -> Bed {
        let sim = try KubernetesAPITests.cloudAndEdge(loss: loss)
        let api = sim.host(named: "api")!
        let server = KubernetesTestAPIServer(host: api, configuration: configuration)
        _ = server.start()
        let client = KubernetesAPIClient(
            host: sim.host(named: "edge-1")!, endpoint: KubernetesAPIEndpoint(host: api.address.description, port: configuration.port),
            options: options)
        return Bed(sim: sim, server: server, client: client)
    }

    static func node(_ name: String, annotations: String = "{}") -> [UInt8] {
        Array(#"{"metadata":{"name":"\#(name)","labels":{"zone":"lan-a"},"annotations":\#(annotations)},"status":{"addresses":[{"type":"InternalIP","address":"192.168.1.2"}]}}"#.utf8)
    }

    static func keyPatch(_ key: String) -> [UInt8] {
        Array(#"{"metadata":{"annotations":{"\#(tunnelPublicKeyAnnotation)":"\#(key)"}}}"#.utf8)
    }

    /// The server's copy of a Node.
    static func stored(_ server: KubernetesTestAPIServer, _ name: String) throws -> Node {
        let object = try #require(server.objects(of: .nodes).first { $0.key.name == name })
        return try KubernetesDecoder.decode(Node.self, json: object.json)
    }

    /// Runs until `future` completes; its result.
    static func await<T>(_ future: EventLoopFuture<T>, in sim: Simulator) throws -> Result<T, any Error> {
        var result: Result<T, any Error>?
        future.whenComplete { result = $0 }
        _ = sim.run(until: sim.now + 120 * s) { result == nil }
        return try #require(result)
    }

    @Test func aMergePatchAddsTheAnnotationKeepsTheRestAndWatchersSeeItModified() throws {
        let bed = try Self.bed()
        try bed.server.create(.nodes, json: Self.node("edge-1", annotations: #"{"team":"edge"}"#))
        var events: [String] = []
        let reflector = KubernetesReflector<Node>(
            client: bed.client, resource: .nodes, onReplace: { _ in },
            onEvent: { event in
                if case .modified(let node) = event {
                    events.append("MODIFIED \(node.metadata.name) \(node.metadata.annotations[tunnelPublicKeyAnnotation] ?? "-")")
                }
            })
        reflector.start()
        _ = bed.sim.run(until: 10 * Self.s) { reflector.status.phase != .watching }

        let answer = try Self.await(bed.client.patch(.nodes, name: "edge-1", patch: Self.keyPatch(Self.key)), in: bed.sim).get()
        let returned = try KubernetesDecoder.decode(Node.self, json: answer)
        #expect(returned.metadata.annotations == ["team": "edge", tunnelPublicKeyAnnotation: Self.key])
        #expect(returned.metadata.resourceVersion == "2")
        let stored = try Self.stored(bed.server, "edge-1")
        #expect(stored.metadata.annotations == returned.metadata.annotations)
        #expect(stored.metadata.labels == ["zone": "lan-a"], "a patch of annotations leaves the labels alone")
        #expect(stored.status.addresses.map(\.address) == ["192.168.1.2"])
        _ = bed.sim.run(until: bed.sim.now + 10 * Self.s) { events.isEmpty }
        #expect(events == ["MODIFIED edge-1 \(Self.key)"])

        let request = try #require(bed.server.requests.last { $0.method == .PATCH })
        #expect(request.uri == "/api/v1/nodes/edge-1")
        #expect(request.headers.first(name: "Content-Type") == "application/merge-patch+json")

        // A strategic merge patch removes a key with null and keeps the others.
        let removal = Array(#"{"metadata":{"annotations":{"team":null}}}"#.utf8)
        _ = try Self.await(bed.client.patch(.nodes, name: "edge-1", patch: removal, type: .strategicMerge), in: bed.sim).get()
        #expect(try Self.stored(bed.server, "edge-1").metadata.annotations == [tunnelPublicKeyAnnotation: Self.key])
        #expect(bed.server.requests.last?.headers.first(name: "Content-Type") == "application/strategic-merge-patch+json")
    }

    @Test func refusedPatchesAreTypedErrorsThatSayWhatToDo() throws {
        let bed = try Self.bed()
        try bed.server.create(.nodes, json: Self.node("edge-1"))
        func failure(_ name: String, _ body: [UInt8]) throws -> KubernetesPatchError {
            let result = try Self.await(bed.client.patch(.nodes, name: name, patch: body), in: bed.sim)
            guard case .failure(let error) = result else {
                Issue.record("the patch of \(name) succeeded")
                return .unreachable(reason: "no failure")
            }
            return try #require(error as? KubernetesPatchError)
        }

        bed.server.forbidden = [.init(verb: "patch", resource: .nodes)]
        let forbidden = try failure("edge-1", Self.keyPatch(Self.key))
        guard case .forbidden(let verb, let resource, "edge-1", _) = forbidden else { Issue.record("\(forbidden)"); return }
        #expect(verb == "patch" && resource == .nodes)
        #expect(forbidden.description.contains("403: the ClusterRole lacks patch on nodes"), "\(forbidden)")
        #expect(!forbidden.isTransient)
        bed.server.forbidden = []

        let missing = try failure("edeg-1", Self.keyPatch(Self.key))
        #expect(missing == .notFound(resource: .nodes, name: "edeg-1"))
        #expect(missing.description.contains("is --node-name right"), "\(missing)")

        let stale = try failure("edge-1", Array(#"{"metadata":{"resourceVersion":"0","annotations":{"a":"b"}}}"#.utf8))
        guard case .conflict = stale else { Issue.record("\(stale)"); return }
        #expect(stale.isTransient)

        let notAnObject = try failure("edge-1", Array("[1, 2]".utf8))
        guard case .rejected(422, _, _, _) = notAnObject else { Issue.record("\(notAnObject)"); return }
        let notJSON = try failure("edge-1", Array("{".utf8))
        guard case .rejected(400, _, _, _) = notJSON else { Issue.record("\(notJSON)"); return }
        #expect(try Self.stored(bed.server, "edge-1").metadata.annotations.isEmpty, "no refused patch changed the node")

        // Some metaServers take no PATCH at all: that is a refusal, not an outage.
        let notAllowed = KubernetesPatchError(KubernetesAPIError.status(code: 405, nil), resource: .nodes, name: "edge-1")
        #expect(notAllowed == .rejected(code: 405, resource: .nodes, name: "edge-1", message: nil))
        #expect(!notAllowed.isTransient)

        bed.server.stop()
        let away = try failure("edge-1", Self.keyPatch(Self.key))
        guard case .unreachable(let why) = away else { Issue.record("\(away)"); return }
        #expect(away.isTransient)
        #expect(why.contains("refused"), "\(why)")
    }

    /// The agent's own Node in a table fed by the API server, and the publisher keeping the key on it.
    struct PublishingNode {
        let table: ServiceTable
        let source: KubernetesAPISource
        let publisher: NodeAnnotationPublisher
        var attempts = 0
    }

    @Test func thePublisherKeepsTryingWhileTheCloudIsAwayPublishesWhenItIsBackAndRepairsEdits() throws {
        let bed = try Self.bed(loss: 0.02)
        try bed.server.create(.nodes, json: Self.node("edge-1"))
        let partition = try bed.sim.partition(["edge-1"], from: ["api"])
        let table = ServiceTable(eventLoop: bed.edge.eventLoop)
        let source = KubernetesAPISource(client: bed.client, table: table, options: .init(kinds: [.node]))
        let publisher = NodeAnnotationPublisher(client: bed.client, table: table, nodeName: "edge-1", publicKeyText: Self.key)
        var attempts = 0
        publisher.onStateChange = { if case .publishing = $0 { attempts += 1 } }
        source.start()
        publisher.start()

        bed.sim.run(for: 600 * Self.s)
        #expect(try Self.stored(bed.server, "edge-1").metadata.annotations.isEmpty)
        guard case .retrying(let reason, _) = publisher.state else { Issue.record("\(publisher.state)"); return }
        #expect(reason.contains("unreachable"), "\(reason)")
        // Ten minutes offline: it kept trying, paced by the backoff (cap 30 s, full jitter).
        #expect(attempts >= 15 && attempts <= 120, "\(attempts) attempts in 10 min")
        #expect(publisher.publications == 0)

        bed.sim.heal(partition: partition)
        let published = bed.sim.run(until: bed.sim.now + 120 * Self.s) {
            publisher.publications == 0 || table.node(named: "edge-1")?.metadata.annotations[tunnelPublicKeyAnnotation] != Self.key
        }
        #expect(published, "published within 2 min of the cloud's return: \(publisher.state)")
        #expect(try Self.stored(bed.server, "edge-1").metadata.annotations[tunnelPublicKeyAnnotation] == Self.key)
        #expect(publisher.publications == 1)
        guard case .published = publisher.state else { Issue.record("\(publisher.state)"); return }

        // Someone replaces the Node without the annotation, then writes another key: each time
        // the watch shows it and the publisher puts the key back.
        for annotations in [#"{}"#, #"{"\#(tunnelPublicKeyAnnotation)":"\#(TunnelPublicKeyText.encode(Array(repeating: 9, count: 32)))"}"#] {
            let before = publisher.publications
            try bed.server.update(.nodes, json: Self.node("edge-1", annotations: annotations))
            let repaired = bed.sim.run(until: bed.sim.now + 60 * Self.s) {
                publisher.publications == before
                    || table.node(named: "edge-1")?.metadata.annotations[tunnelPublicKeyAnnotation] != Self.key
            }
            #expect(repaired, "edit \(annotations) repaired: \(publisher.state)")
            #expect(try Self.stored(bed.server, "edge-1").metadata.annotations[tunnelPublicKeyAnnotation] == Self.key)
        }
        bed.sim.run(for: 60 * Self.s)
        #expect(publisher.publications == 3, "one publication and two repairs, no loop")
    }

    @Test func aForbiddenPatchIsRetriedSlowlyAndSucceedsOnceTheRoleIsFixed() throws {
        let bed = try Self.bed()
        try bed.server.create(.nodes, json: Self.node("edge-1"))
        bed.server.forbidden = [.init(verb: "patch", resource: .nodes)]
        let table = ServiceTable(eventLoop: bed.edge.eventLoop)
        let publisher = NodeAnnotationPublisher(client: bed.client, table: table, nodeName: "edge-1", publicKeyText: Self.key)
        publisher.start()
        bed.sim.run(for: 300 * Self.s)
        guard case .retrying(let reason, _) = publisher.state else { Issue.record("\(publisher.state)"); return }
        #expect(reason.hasPrefix("403: the ClusterRole lacks patch on nodes"), "\(reason)")
        let refused = bed.server.requests.filter { $0.method == .PATCH }.count
        // Refusals are retried at the backoff cap (30 s, full jitter): about 20 in 5 min, never a storm.
        #expect(refused >= 5 && refused <= 60, "\(refused) patches in 5 min")
        bed.server.forbidden = []
        _ = bed.sim.run(until: bed.sim.now + 120 * Self.s) { publisher.publications == 0 }
        #expect(try Self.stored(bed.server, "edge-1").metadata.annotations[tunnelPublicKeyAnnotation] == Self.key)
    }

    @Test func aWatchCancelledWhileWaitingForItsTokenIsNeverSent() throws {
        let bed = try Self.bed(options: .init(rateLimit: .init(qps: 1, burst: 1)))
        var listed = false
        bed.client.list(.services).whenSuccess { _ in listed = true }
        let watch = bed.client.watch(.services, resourceVersion: nil) { _ in }
        var ended: Result<Void, any Error>?
        watch.finished.whenComplete { ended = $0 }
        bed.sim.run(for: 100 * Nanoseconds.millisecond)
        watch.cancel()
        bed.sim.run(for: 5 * Self.s)
        #expect(listed, "the first request had the burst's token")
        #expect(ended != nil, "the cancelled watch finished")
        #expect(bed.server.requests.map(\.uri) == ["/api/v1/services"], "the watch never reached the server")
        #expect(bed.server.watchCount == 0)
    }

    /// Every watch is answered 410 Gone and the reflector's backoff is next to nothing: only the
    /// client's qps/burst stands between the storm and the server.
    static func relistStorm(limit: KubernetesRateLimiter.Limit) throws -> [NIODeadline] {
        let bed = try Self.bed(server: .init(expiresEveryWatch: true), options: .init(rateLimit: limit))
        try bed.server.create(.services, json: KubernetesAPITests.service("web"))
        let reflector = KubernetesReflector<Service>(
            client: bed.client, resource: .services, backoff: RetryBackoff(base: .milliseconds(1), cap: .milliseconds(1)),
            onReplace: { _ in }, onEvent: { _ in })
        let startedAt = bed.sim.host(named: "api")!.now
        reflector.start()
        bed.sim.run(for: 60 * Self.s)
        reflector.stop()
        #expect(reflector.status.listCount > 10, "the storm is a storm of relists: \(reflector.status)")
        return bed.server.requests.map { .uptimeNanoseconds(UInt64(($0.receivedAt - startedAt).nanoseconds)) }
    }

    @Test func aRelistStormIsPacedAtQPSAfterTheBurst() throws {
        let limit = KubernetesRateLimiter.Limit(qps: 2, burst: 5)
        let paced = try Self.relistStorm(limit: limit)
        for seconds in [1, 5, 10, 30, 60] {
            let window = NIODeadline.uptimeNanoseconds(UInt64(seconds) * Self.s)
            let arrived = paced.filter { $0 <= window }.count
            #expect(arrived <= limit.burst + Int(limit.qps) * seconds, "\(arrived) requests within \(seconds) s")
        }
        // Paced, not stalled: close to qps once the burst is spent.
        #expect(paced.count >= 100, "\(paced.count) requests in 60 s")

        let unpaced = try Self.relistStorm(limit: KubernetesRateLimiter.Limit(qps: 10_000, burst: 10_000))
        #expect(unpaced.count > 3 * paced.count, "without the limit the same storm sends \(unpaced.count), with it \(paced.count)")
    }
}
