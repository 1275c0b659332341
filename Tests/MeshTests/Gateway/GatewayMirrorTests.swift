@testable import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim
@testable import Scenario

/// A route's `mirror`: a copy of each request goes to the mirror's service as Envoy shadows it
/// (`Host` with `-shadow`), its answer thrown away; the client's answer never waits for it, and
/// copies are bounded (share drawn, body size, copies out).
@Suite struct GatewayMirrorTests {
    typealias Bed = ProxyTestBed
    static let s = Nanoseconds.second

    /// What the mirror's pod received, all connections together, as text. It never answers.
    final class MirrorPod: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var received = ""
        var connections = 0
        func channelActive(context: ChannelHandlerContext) {
            connections += 1
            context.fireChannelActive()
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += String(buffer: unwrapInboundIn(data))
        }
    }

    /// The gateway on 8000 with `routes`, and a service `shadow` (10.96.1.9:80) whose one pod,
    /// pod-3 on 9099, records what it is sent.
    static func gateway(_ bed: Bed, routes: String) throws -> (IngressGateway, MirrorPod) {
        let pod = MirrorPod()
        _ = try #require(bed.sim.host(named: "pod-3")).listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: 9099))) {
            $0.pipeline.addHandler(pod)
        }
        let manifests = GatewayLimitsTests.istioObjects(http: routes) + """

            ---
            apiVersion: v1
            kind: Service
            metadata: {name: shadow, namespace: default}
            spec: {clusterIP: 10.96.1.9, ports: [{name: http, port: 80, targetPort: 9099}]}
            ---
            apiVersion: v1
            kind: Endpoints
            metadata: {name: shadow, namespace: default}
            subsets: [{addresses: [{ip: \(try #require(bed.sim.resolve("pod-3"))), nodeName: pod-3}], ports: [{name: http, port: 9099}]}]
            """
        return (try GatewayLimitsTests.gateway(bed, .init(), manifests: manifests), pod)
    }

    /// A POST of `body` to `target` from pod-4; the response and how long it took.
    static func post(_ bed: Bed, _ target: String, body: String) throws -> (response: String, took: UInt64) {
        let start = bed.sim.now
        let (channel, recorder) = try GatewayLimitsTests.connect(bed, from: "pod-4", port: 8000)
        channel.writeAndFlush(ByteBuffer(string: """
            POST \(target) HTTP/1.1\r\nHost: shop.example.com\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)
            """), promise: nil)
        bed.sim.run(until: bed.sim.now + 10 * Self.s) { !recorder.closed }
        return (String(buffer: recorder.bytes), bed.sim.now - start)
    }

    @Test func aCopyGoesToTheMirrorAndTheClientNeverWaitsForItsAnswer() throws {
        let bed = try Bed()
        let (gateway, mirror) = try Self.gateway(bed, routes: """
            - route: [{destination: {host: web, port: {number: 80}}}]
              mirror: {host: shadow}
            """)
        let (response, took) = try Self.post(bed, "/orders", body: "order=42")
        #expect(response.hasPrefix("HTTP/1.1 200"), "\(response)")
        #expect(took < Self.s, "answered by web while the mirror never answers: \(took)")
        bed.sim.run(for: Self.s)
        #expect(mirror.received.hasPrefix("POST /orders HTTP/1.1\r\n"), "\(mirror.received)")
        #expect(mirror.received.lowercased().contains("host: shop.example.com-shadow\r\n"), "\(mirror.received)")
        #expect(mirror.received.lowercased().contains("content-length: 8\r\n"), "\(mirror.received)")
        #expect(mirror.received.hasSuffix("\r\n\r\norder=42"), "\(mirror.received)")
        #expect(bed.proxy.statistics.requestsMirrored == 1)
        // The copy that gets no answer is let go after its timeout, holding nothing.
        bed.sim.run(for: 11 * Self.s)
        #expect(bed.proxy.mirrorsInFlight == 0)
        withExtendedLifetime(gateway) {}
    }

    @Test func copiesAreBoundedByShareAndBodySize() throws {
        let bed = try Bed()
        let (gateway, mirror) = try Self.gateway(bed, routes: """
            - match: [{uri: {prefix: /never}}]
              route: [{destination: {host: web, port: {number: 80}}}]
              mirror: {host: shadow}
              mirrorPercentage: {value: 0}
            - route: [{destination: {host: web, port: {number: 80}}}]
              mirror: {host: shadow}
            """)
        for _ in 0..<5 {
            #expect(try Self.post(bed, "/never", body: "x").response.hasPrefix("HTTP/1.1 200"))
        }
        let large = String(repeating: "y", count: HTTPRequestMirror.maximumBodyBytes + 1)
        #expect(try Self.post(bed, "/upload", body: large).response.hasPrefix("HTTP/1.1 200"), "the client's request goes through whole")
        bed.sim.run(for: Self.s)
        #expect(mirror.connections == 0, "no copy at 0 %, none of a body over 64 KiB: \(mirror.received.prefix(80))")
        #expect(bed.proxy.statistics.requestsMirrored == 0)
        #expect(bed.proxy.statistics.mirrorsSkipped == 1)
        withExtendedLifetime(gateway) {}
    }

    @Test func shadowHostKeepsThePort() {
        #expect(HTTPRequestMirror.shadowHost("shop.example.com") == "shop.example.com-shadow")
        #expect(HTTPRequestMirror.shadowHost("shop.example.com:8000") == "shop.example.com-shadow:8000")
    }
}
