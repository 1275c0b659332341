import Mesh
import NIOCore
import Testing

/// A backend that writes raw HTTP/1.1 responses in the framings NIO's own server never picks:
/// `GET /chunked` gets a chunked body in several chunks (connection kept), `GET /close` a body
/// without length that ends when the server closes. Bodies are `body(size:)` bytes.
final class CannedHTTPBackend: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let bodySize = 100_000
    private var received = ""

    static func start(on host: any Host, port: UInt16) {
        host.listenStream(StreamListenOptions(address: IPv4Address.any.socketAddress(port: port))) { channel in
            channel.pipeline.addHandler(CannedHTTPBackend())
        }.whenFailure { Issue.record($0) }
    }

    /// A body every byte of which depends on its position, so a lost or moved byte shows.
    static func body(size: Int) -> String {
        let letters: [UInt8] = (0..<size).map { index -> UInt8 in
            let offset = (index * 7 + index / 26) % 26
            return UInt8(97 + offset)
        }
        return String(decoding: letters, as: UTF8.self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
        while let end = received.range(of: "\r\n\r\n") {
            let head = received[..<end.lowerBound]
            received = String(received[end.upperBound...])
            respond(to: head.hasPrefix("GET /close") ? "close" : "chunked", context: context)
        }
    }

    private func respond(to kind: String, context: ChannelHandlerContext) {
        let body = Self.body(size: Self.bodySize)
        if kind == "close" {
            context.write(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")), promise: nil)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: body))).whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        context.write(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")), promise: nil)
        var rest = Substring(body)
        while !rest.isEmpty {
            let chunk = rest.prefix(30_000)
            rest = rest.dropFirst(chunk.count)
            context.writeAndFlush(
                wrapOutboundOut(ByteBuffer(string: String(chunk.count, radix: 16) + "\r\n" + chunk + "\r\n")), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "0\r\n\r\n")), promise: nil)
    }
}
