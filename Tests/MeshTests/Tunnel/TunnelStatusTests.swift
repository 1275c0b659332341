import Foundation
import Mesh
import NIOCore
import Testing

@testable import NetSim

/// What `edgemesh status` gets from the agent's status endpoint.
@Suite struct TunnelStatusTests {
    static let s = TunnelTestBed.s

    @Test func theStatusEndpointReportsEachPeerWithPathAndFailure() throws {
        let bed = try TunnelTestBed(nodes: ["a", "b", "c"])
        let tunnelA = bed.tunnel("a")
        let endpoint = AgentHTTPEndpoint(
            host: bed.sim.host(named: "a")!, address: IPv4Address.any.socketAddress(port: 10551),
            pages: ["/tunnel/status": .init(contentType: "application/json") {
                String(decoding: try! tunnelA.statusReport.json(), as: UTF8.self)
            }])
        _ = endpoint.start()
        let (channel, recorder) = try bed.openChannel(from: "a", to: bed.target("b"))
        channel.writeAndFlush(ByteBuffer(string: "x"), promise: nil)
        bed.run(for: 15 * Self.s) { true }
        bed.directReachable.remove("c")
        _ = bed.open(from: "a", to: bed.target("c"))
        #expect(recorder.byteCount == 1)

        // Asked over HTTP (from b; the simulated agent listens on every address here).
        let response = StreamRecorder()
        bed.sim.host(named: "b")!.connectStream(
            StreamConnectOptions(remote: bed.addresses["a"]!.socketAddress(port: 10551))
        ) { $0.pipeline.addHandler(response) }.whenSuccess { channel in
            channel.writeAndFlush(ByteBuffer(string: "GET /tunnel/status HTTP/1.1\r\nHost: a\r\n\r\n"), promise: nil)
        }
        bed.run(for: 5 * Self.s) { !response.closed }
        let text = String(buffer: response.bytes)
        #expect(text.hasPrefix("HTTP/1.1 200 OK"))
        let body = try #require(text.range(of: "\r\n\r\n").map { Data(text[$0.upperBound...].utf8) })
        let report = try TunnelStatusReport.decode(body)
        #expect(report.node == "a")
        #expect(report.publicKey == bed.tunnel("a").identity?.publicKeyText)
        #expect(report.peers.map(\.node) == ["b", "c"])
        #expect(report.peers[0].path == "direct")
        #expect(report.peers[0].rttMilliseconds != nil)
        #expect(report.peers[0].openStreams == 1)
        #expect(report.peers[1].path == nil)
        #expect(report.peers[1].lastFailure?.contains("no address is known for node \"c\"") == true)
        let table = report.text
        #expect(table.contains("b     direct"))
        #expect(table.contains("c: no path to node \"c\""))
    }
}
