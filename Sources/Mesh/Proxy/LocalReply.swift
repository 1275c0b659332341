import NIOCore
import NIOHTTP1

/// A response the proxy gives itself instead of forwarding a request (Envoy's "local reply").
/// When it cannot get a response from a backend, a status says more than a reset: the client's
/// HTTP library reports "503 Service Unavailable" with the reason in the body, not "connection
/// reset".
///
/// - 503 when the service has no ready backend: nothing to reach, try later (Envoy's "no healthy
///   upstream" is a 503 too);
/// - 502 when backends exist but none could be reached, or one broke off before its response
///   began (RFC 9110: the gateway got no valid response from upstream);
/// - 504 when the route's timeout passed before the backend answered.
///
/// The ingress gateway answers with it too: 404 when no route fits a request, a redirect with
/// its `Location`, a VirtualService's `directResponse`, a CORS preflight.
///
/// It always closes the connection: the rest of the request may still be on its way, and after a
/// failure the client is better served by a fresh connection than by one in an unknown state.
public struct LocalReply: Hashable, Sendable {
    public let status: HTTPResponseStatus
    /// Why, for logs; also the body unless `body` is given.
    public let reason: String
    /// Headers besides the framing ones, in order.
    public let headers: [Header]
    /// The body; nil gives the reason as `text/plain`.
    public let body: String?

    public struct Header: Hashable, Sendable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(status: HTTPResponseStatus, reason: String, headers: [Header] = [], body: String? = nil) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
    }

    /// A redirect to `location`.
    public init(redirectTo location: String, status: HTTPResponseStatus = .movedPermanently) {
        self.init(status: status, reason: "moved to \(location)", headers: [Header("Location", location)])
    }

    /// The answer to a request whose backend could not be found or reached.
    init(for error: Error) {
        if case ServiceProxyError.noBackends = error {
            self.init(status: .serviceUnavailable, reason: "\(error)")
        } else {
            self.init(status: .badGateway, reason: "\(error)")
        }
    }

    /// The `Location` of a redirect.
    public var location: String? { headers.first { $0.name.lowercased() == "location" }?.value }

    /// The gRPC status a gRPC client is given instead of this HTTP status (gRPC's "HTTP to gRPC
    /// status code mapping": 14 UNAVAILABLE for 429, 502, 503 and 504).
    var grpcStatus: Int {
        switch status.code {
        case 400: 13  // INTERNAL
        case 401: 16  // UNAUTHENTICATED
        case 403: 7  // PERMISSION_DENIED
        case 404: 12  // UNIMPLEMENTED
        case 429, 502, 503, 504: 14  // UNAVAILABLE
        default: 2  // UNKNOWN
        }
    }

    /// The reply as gRPC clients read a failure: 200, `content-type: application/grpc`, no
    /// message, and `grpc-status` and `grpc-message` (percent-encoded) as trailers.
    func grpcParts() -> [HTTPServerResponsePart] {
        var message = ""
        for byte in reason.utf8 {
            if (0x20...0x7E).contains(byte) && byte != UInt8(ascii: "%") {
                message.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                message += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: HTTPHeaders([("Content-Type", "application/grpc")]))
        return [.head(head), .end(HTTPHeaders([("grpc-status", String(grpcStatus)), ("grpc-message", message)]))]
    }

    /// Head, body and end, ready for an `HTTPResponseEncoder`.
    func parts(allocator: ByteBufferAllocator) -> [HTTPServerResponsePart] {
        let text = body ?? reason + "\n"
        var buffer = allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        var fields = HTTPHeaders(headers.map { ($0.name, $0.value) })
        if body == nil || !fields.contains(name: "content-type") {
            fields.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        }
        fields.add(name: "Content-Length", value: String(buffer.readableBytes))
        fields.add(name: "Connection", value: "close")
        var parts: [HTTPServerResponsePart] = [.head(HTTPResponseHead(version: .http1_1, status: status, headers: fields))]
        if buffer.readableBytes > 0 { parts.append(.body(.byteBuffer(buffer))) }
        parts.append(.end(nil))
        return parts
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
