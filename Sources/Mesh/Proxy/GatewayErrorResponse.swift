import NIOCore
import NIOHTTP1

/// The answer the request-level proxy gives when it cannot get a response from a backend. Once
/// the proxy speaks HTTP to the client, a status says more than a reset: the client's HTTP
/// library reports "503 Service Unavailable" with the reason in the body, not "connection reset".
///
/// - 503 when the service has no ready backend: nothing to reach, try later (Envoy's "no healthy
///   upstream" is a 503 too);
/// - 502 when backends exist but none could be reached, or one broke off before its response
///   began (RFC 9110: the gateway got no valid response from upstream).
///
/// The ingress gateway answers with it too: 404 when no route fits a request, 301 with a
/// `Location` to the https URL for a server that redirects.
///
/// It always closes the connection: the rest of the request may still be on its way, and after a
/// failure the client is better served by a fresh connection than by one in an unknown state.
struct GatewayErrorResponse {
    let status: HTTPResponseStatus
    let reason: String
    /// Where a redirect points.
    let location: String?

    init(status: HTTPResponseStatus, reason: String, location: String? = nil) {
        self.status = status
        self.reason = reason
        self.location = location
    }

    /// The answer to a request whose backend could not be found or reached.
    init(for error: Error) {
        if case ServiceProxyError.noBackends = error {
            self.init(status: .serviceUnavailable, reason: "\(error)")
        } else {
            self.init(status: .badGateway, reason: "\(error)")
        }
    }

    /// Head, body and end, ready for an `HTTPResponseEncoder`.
    func parts(allocator: ByteBufferAllocator) -> [HTTPServerResponsePart] {
        var body = allocator.buffer(capacity: reason.utf8.count + 1)
        body.writeString(reason + "\n")
        var headers = HTTPHeaders([
            ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", String(body.readableBytes)),
            ("Connection", "close"),
        ])
        if let location { headers.add(name: "Location", value: location) }
        return [.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)), .body(.byteBuffer(body)), .end(nil)]
    }
}
