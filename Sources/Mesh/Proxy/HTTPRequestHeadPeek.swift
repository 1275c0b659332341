import NIOCore

/// Reads the first HTTP/1.x request head out of the bytes a client sent, without consuming
/// them: the proxy forwards the same bytes afterwards, untouched. Used only when a
/// load-balancing policy needs a header, cookie or query parameter.
///
/// Anything that is not a well-formed request line (TLS, a binary protocol) is recognised as
/// soon as its first bytes arrive, so such connections are not held back.
public struct HTTPRequestHeadPeek: Sendable {
    public enum Outcome: Hashable, Sendable {
        /// The head is not complete yet; feed more bytes.
        case needMoreBytes
        case request(HTTPRequestSummary)
        /// The bytes are not an HTTP/1.x request (or its head is longer than the limit).
        case notHTTP
    }

    /// The longest head read; longer ones are passed on without a choice by header.
    public let maximumHeadLength: Int

    public init(maximumHeadLength: Int = 16 * 1024) {
        self.maximumHeadLength = maximumHeadLength
    }

    /// Looks at everything received so far (`bytes` starts at the connection's first byte).
    public func inspect(_ bytes: ByteBuffer) -> Outcome {
        let view = bytes.readableBytesView
        switch Self.opensWithRequestMethod(bytes) {
        case nil: return .needMoreBytes
        case false?: return .notHTTP
        case true?: break
        }
        guard let end = Self.endOfHead(view) else {
            return view.count > maximumHeadLength ? .notHTTP : .needMoreBytes
        }
        guard end <= maximumHeadLength,
            let text = String(validating: view[view.startIndex..<(view.startIndex + end)], as: UTF8.self)
        else { return .notHTTP }
        return Self.parse(text).map(Outcome.request) ?? .notHTTP
    }

    /// Whether `bytes` open with an HTTP/1.x request method (a token of capital letters) and a
    /// space; nil until enough bytes have arrived to tell. `PRI` opens the HTTP/2 connection
    /// preface (h2c gRPC, say), which is no HTTP/1 request.
    public static func opensWithRequestMethod(_ bytes: ByteBuffer) -> Bool? {
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

    /// The offset just past the blank line ending the head, if it has arrived.
    private static func endOfHead(_ view: ByteBufferView) -> Int? {
        var index = view.startIndex
        while index + 4 <= view.endIndex {
            if view[index] == 13 && view[index + 1] == 10 && view[index + 2] == 13 && view[index + 3] == 10 {
                return index + 4 - view.startIndex
            }
            index += 1
        }
        return nil
    }

    private static func parse(_ head: String) -> HTTPRequestSummary? {
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: true)[...]
        guard let requestLine = lines.popFirst() else { return nil }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[1].isEmpty, parts[2].hasPrefix("HTTP/1.") else { return nil }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon]
            guard !name.isEmpty, !name.contains(" ") else { return nil }
            var value = line[line.index(after: colon)...]
            while value.first == " " || value.first == "\t" { value.removeFirst() }
            while value.last == " " || value.last == "\t" { value.removeLast() }
            headers.append((String(name), String(value)))
        }
        return HTTPRequestSummary(method: String(parts[0]), target: String(parts[1]), headers: headers)
    }
}
