import Mesh
import NIOCore
import NIOHTTP1
import Testing

@testable import NetSim
@testable import Scenario

/// The scenario layer's `KeepAliveHTTPSession` driven from a test on the proxy bench: each
/// request runs the simulation until its response has ended, as a browser or a
/// `requests.Session` waits for each response before the next request.
final class KeepAliveHTTPClient {
    typealias Response = KeepAliveHTTPSession.Response

    private let bench: ProxyTestBed
    private let session: KeepAliveHTTPSession
    private let address: IPv4Address

    /// Connects from the bench's edge node to `address`:80.
    init(bench: ProxyTestBed, address: String = "10.96.0.10") throws {
        self.bench = bench
        self.session = KeepAliveHTTPSession(host: bench.edge)
        self.address = try #require(IPv4Address(address))
        let opened = ProxyTestBox<Result<Void, Error>>()
        session.open(to: self.address, port: 80).whenComplete { opened.value = $0 }
        bench.sim.run(until: bench.sim.now + 5 * ProxyTestBed.s) { opened.value == nil }
        try #require(opened.value).get()
    }

    /// Whether the server closed the connection.
    var closed: Bool { !session.isConnected }

    /// Sends one request (a GET unless told) with `headers` and runs the simulation until its
    /// response has ended.
    @discardableResult
    func get(
        _ target: String = "/", method: HTTPMethod = .GET, headers: [(String, String)] = [], body: ByteBuffer? = nil
    ) throws -> Response {
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: HTTPHeaders([("Host", "web")] + headers))
        let answered = ProxyTestBox<Result<Response, Error>>()
        session.send(head, body: body, address: address, port: 80).whenComplete { answered.value = $0 }
        bench.sim.run(until: bench.sim.now + 10 * ProxyTestBed.s) { answered.value == nil }
        guard let result = answered.value else { throw ProxyTestFailure("no response to \(target); closed: \(closed)") }
        return try result.get()
    }

    func close() {
        session.close()
        bench.sim.run(for: ProxyTestBed.s)
    }
}

extension KeepAliveHTTPSession.Response {
    /// The pod that answered (the hostname server's body).
    var pod: String? { ProxyTestBed.pods.contains(body) ? body : nil }
}
