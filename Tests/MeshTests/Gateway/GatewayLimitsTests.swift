import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim
@testable import Scenario

/// The gateway's ports face the internet: no client may hold its connections for ever or take
/// them all. A kept-alive HTTP connection must bring its next request head in time, a TCP
/// connection that moves no byte is closed, and connections are capped per client and in all.
@Suite struct GatewayLimitsTests {
    typealias Bed = ProxyTestBed
    static let s = Nanoseconds.second

    /// The proxy bed's edge node as a gateway: HTTP on 8000 to `web`, TCP on 9000 to `echo`.
    static func gateway(_ bed: Bed, _ configuration: IngressGateway.Configuration) throws -> IngressGateway {
        try gateway(bed, configuration, manifests: istioObjects(
            http: "- {route: [{destination: {host: web, port: {number: 80}}}]}",
            tcp: "- {match: [{port: 9000}], route: [{destination: {host: echo, port: {number: 2701}}}]}"))
    }

    /// A Gateway `gw` serving HTTP on 8000, TCP on 9000 and TLS passthrough on 8443 for every
    /// host, and one VirtualService bound to it with these `http`, `tcp` and `tls` route lists
    /// (YAML block sequences).
    static func istioObjects(http: String, tcp: String = "", tls: String = "") -> String {
        func indented(_ list: String) -> String { list.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") }
        return """
            apiVersion: networking.istio.io/v1beta1
            kind: Gateway
            metadata: {name: gw, namespace: default}
            spec:
              selector: {kubeedge: edgemesh-gateway}
              servers:
              - {port: {number: 8000, name: http, protocol: HTTP}, hosts: ["*"]}
              - {port: {number: 9000, name: tcp, protocol: TCP}, hosts: ["*"]}
              - {port: {number: 8443, name: tls, protocol: TLS}, hosts: ["*"], tls: {mode: PASSTHROUGH}}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: VirtualService
            metadata: {name: routes, namespace: default}
            spec:
              hosts: ["*"]
              gateways: [gw]
              http:
            \(indented(http))
              tcp:
            \(indented(tcp))
              tls:
            \(indented(tls))

            """
    }

    /// The proxy bed's edge node as a gateway serving the Istio objects in `manifests` (YAML).
    static func gateway(_ bed: Bed, _ configuration: IngressGateway.Configuration, manifests: String) throws -> IngressGateway {
        let set = ManifestSet(files: ["gw.yaml": manifests])
        #expect(set.problems.isEmpty, "\(set.problems)")
        for object in set.objects.values.flatMap({ $0 }) { bed.table.apply(.upsert(object)) }
        let gateway = IngressGateway(proxy: bed.proxy, configuration: configuration)
        var started = false
        gateway.start().whenComplete { _ in started = true }
        bed.sim.run(until: bed.sim.now + Self.s) { !started }
        return gateway
    }

    /// Connects from `node` to the gateway's `port`; the channel and what it records.
    static func connect(_ bed: Bed, from node: String, port: Int) throws -> (Channel, StreamRecorder) {
        let host = try #require(bed.sim.host(named: node))
        let recorder = StreamRecorder()
        var connected: Channel?
        host.connectStream(StreamConnectOptions(remote: bed.edge.address.socketAddress(port: UInt16(port)))) {
            $0.pipeline.addHandler(recorder)
        }.whenSuccess { connected = $0 }
        bed.sim.run(until: bed.sim.now + Self.s) { connected == nil }
        return (try #require(connected), recorder)
    }

    @Test func aKeptAliveConnectionThatTricklesItsNextHeadIsClosed() throws {
        let bed = try Bed()
        let gateway = try Self.gateway(bed, .init())
        let (channel, recorder) = try Self.connect(bed, from: "pod-4", port: 8000)
        channel.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: shop\r\n\r\n"), promise: nil)
        bed.sim.run(until: bed.sim.now + 2 * Self.s) { recorder.byteCount == 0 }
        #expect(String(buffer: recorder.bytes).hasPrefix("HTTP/1.1 200"))
        // Then one byte of the next head every 10 s, for ever.
        for byte in Array("GET / HTTP/1.1\r\nHost: sh".utf8) where !recorder.closed {
            channel.writeAndFlush(ByteBuffer(bytes: [byte]), promise: nil)
            bed.sim.run(until: bed.sim.now + 10 * Self.s) { !recorder.closed }
        }
        #expect(recorder.closed, "closed within the keep-alive timeout (60 s)")
        #expect(bed.proxy.statistics.requestHeadTimeouts == 1)
        bed.sim.run(for: Self.s)
        #expect(gateway.openConnections == 0, "its place is free again")
    }

    @Test func connectionsAreCappedPerClientAndInAll() throws {
        let bed = try Bed()
        let gateway = try Self.gateway(bed, .init(maximumConnections: 3, maximumConnectionsPerClient: 2))
        let first = try Self.connect(bed, from: "pod-4", port: 9000)
        let second = try Self.connect(bed, from: "pod-4", port: 9000)
        let third = try Self.connect(bed, from: "pod-4", port: 9000)
        bed.sim.run(until: bed.sim.now + Self.s) { !third.1.closed }
        #expect(third.1.closed, "a client's third connection is refused")
        #expect(!first.1.closed && !second.1.closed)
        #expect(gateway.statistics.refusedAtClientLimit == 1)
        let other = try Self.connect(bed, from: "pod-3", port: 9000)
        let overLimit = try Self.connect(bed, from: "pod-2", port: 9000)
        bed.sim.run(until: bed.sim.now + Self.s) { !overLimit.1.closed }
        #expect(!other.1.closed)
        #expect(overLimit.1.closed, "the fourth connection overall is refused")
        #expect(gateway.statistics.refusedAtTotalLimit == 1)
        #expect(gateway.openConnections == 3)
        #expect(gateway.statusLines.contains { $0.contains("3 of 3 connections open") })
        // A closed connection frees its place.
        first.0.close(promise: nil)
        bed.sim.run(for: Self.s)
        let again = try Self.connect(bed, from: "pod-2", port: 9000)
        bed.sim.run(for: Self.s)
        #expect(!again.1.closed)
    }

    @Test func aTCPConnectionThatMovesNothingIsClosedWhenIdle() throws {
        let bed = try Bed()
        let gateway = try Self.gateway(bed, .init(tcpIdleTimeout: .seconds(30)))
        let (channel, recorder) = try Self.connect(bed, from: "pod-4", port: 9000)
        channel.writeAndFlush(ByteBuffer(string: "ping"), promise: nil)
        bed.sim.run(until: bed.sim.now + 2 * Self.s) { recorder.byteCount < 4 }
        #expect(recorder.bytes == ByteBuffer(string: "ping"), "the echo answers through the gateway")
        bed.sim.run(until: bed.sim.now + 25 * Self.s) { !recorder.closed }
        #expect(!recorder.closed, "25 s idle is within the timeout")
        bed.sim.run(until: bed.sim.now + 10 * Self.s) { !recorder.closed }
        #expect(recorder.closed)
        #expect(gateway.statistics.idleCloses == 1)
    }

    /// A passthrough port waits for the ClientHello only as long as an HTTP port waits for a
    /// request head: a client that opens a connection and says nothing is reset.
    @Test func aPassthroughClientThatSendsNoClientHelloIsReset() throws {
        let bed = try Bed()
        let gateway = try Self.gateway(bed, .init(), manifests: Self.istioObjects(
            http: "", tls: #"- {match: [{sniHosts: ["*"]}], route: [{destination: {host: secure}}]}"#))
        let (_, recorder) = try Self.connect(bed, from: "pod-4", port: 8443)
        bed.sim.run(until: bed.sim.now + 4 * Self.s) { !recorder.closed }
        #expect(!recorder.closed, "4 s is within the ClientHello timeout (5 s)")
        bed.sim.run(until: bed.sim.now + 2 * Self.s) { !recorder.closed }
        #expect(recorder.closed)
        bed.sim.run(for: Self.s)
        #expect(gateway.openConnections == 0)
    }
}
