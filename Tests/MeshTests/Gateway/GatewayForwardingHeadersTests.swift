import NIOCore
import NIOHTTP1
import Testing

@testable import Mesh

/// What a backend behind the gateway learns about the original request.
@Suite struct GatewayForwardingHeadersTests {
    static func forwarded(_ headers: [(String, String)], client: String?, scheme: String) throws -> HTTPHeaders {
        var request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: HTTPHeaders(headers))
        let address = try client.map { try SocketAddress(ipAddress: $0, port: 40_000) }
        IngressGateway.addForwardingHeaders(to: &request, client: address, scheme: scheme)
        return request.headers
    }

    @Test func theClientsAddressAndSchemeAreAdded() throws {
        let headers = try Self.forwarded([("Host", "shop.example.com")], client: "203.0.113.80", scheme: "https")
        #expect(headers["X-Forwarded-For"] == ["203.0.113.80"])
        #expect(headers["X-Forwarded-Proto"] == ["https"])
        #expect(headers["Host"] == ["shop.example.com"], "the Host header reaches the backend unchanged")
    }

    @Test func earlierProxiesAreKeptAndAClaimedSchemeIsReplaced() throws {
        let headers = try Self.forwarded(
            [("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-For", "10.0.0.1"), ("X-Forwarded-Proto", "https")],
            client: "203.0.113.80", scheme: "http")
        #expect(headers["X-Forwarded-For"] == ["198.51.100.7, 10.0.0.1, 203.0.113.80"])
        #expect(headers["X-Forwarded-Proto"] == ["http"], "a client cannot claim https on a plain port")
    }
}
