import NIOCore

/// Tells HTTP/1.x from anything else by a connection's first bytes, without consuming them:
/// under a policy that hashes on a request field, HTTP goes to the `HTTPRequestBalancer` and
/// anything else (TLS, a binary protocol, the HTTP/2 preface) is spliced unread.
enum HTTPRequestHeadPeek {
    /// Whether `bytes` open with an HTTP/1.x request method (a token of capital letters) and a
    /// space; nil until enough bytes have arrived to tell. `PRI` opens the HTTP/2 connection
    /// preface (h2c gRPC, say), which is no HTTP/1 request.
    static func opensWithRequestMethod(_ bytes: ByteBuffer) -> Bool? {
        var methodLength = 0
        for byte in bytes.readableBytesView {
            if byte == UInt8(ascii: " ") {
                return methodLength > 0 && !bytes.readableBytesView.starts(with: "PRI ".utf8)
            }
            guard (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || byte == UInt8(ascii: "-"),
                methodLength < 20
            else { return false }
            methodLength += 1
        }
        return nil
    }

    /// What HTTP/2 clients send first (RFC 9113, section 3.4).
    static let http2Preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// Whether `bytes` open with the HTTP/2 connection preface (h2c with prior knowledge, as gRPC
    /// clients send); nil while they match it so far but are too few to tell.
    static func opensWithHTTP2Preface(_ bytes: ByteBuffer) -> Bool? {
        let seen = bytes.readableBytesView.prefix(http2Preface.count)
        guard seen.elementsEqual(http2Preface.prefix(seen.count)) else { return false }
        return seen.count == http2Preface.count ? true : nil
    }
}
