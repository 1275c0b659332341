import NIOCore

/// The messages of a SOCKS5 handshake (RFC 1928) with username/password authentication (RFC
/// 1929). Each parser reads a message only once all of it has arrived, and leaves the buffer
/// untouched until then.
enum Socks5Wire {
    static let version: UInt8 = 5
    static let authenticationVersion: UInt8 = 1
    /// The longest handshake message: a request with a 255-byte name (RFC 1929's auth is 513).
    static let longestMessage = 513

    enum Method: UInt8 {
        case noAuthentication = 0x00
        case usernamePassword = 0x02
        case noneAcceptable = 0xFF
    }

    enum Command: UInt8 {
        case connect = 1
        case bind = 2
        case udpAssociate = 3
    }

    enum Destination: Hashable {
        case ipv4(IPv4Address)
        case ipv6
        case name(String)
    }

    struct Request: Hashable {
        var command: UInt8
        var destination: Destination
        var port: UInt16
    }

    enum Parsed<Message> {
        case needMore
        case message(Message)
        case invalid(String)
    }

    /// VER NMETHODS METHODS...: the methods the client offers.
    static func greeting(_ buffer: inout ByteBuffer) -> Parsed<[UInt8]> {
        guard let version = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let count = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self)
        else { return .needMore }
        guard version == Self.version else { return .invalid("SOCKS version \(version), not 5") }
        guard count > 0 else { return .invalid("a greeting that offers no method") }
        guard let methods = buffer.getBytes(at: buffer.readerIndex + 2, length: Int(count)) else { return .needMore }
        buffer.moveReaderIndex(forwardBy: 2 + Int(count))
        return .message(methods)
    }

    /// VER ULEN UNAME PLEN PASSWD (RFC 1929).
    static func credentials(_ buffer: inout ByteBuffer) -> Parsed<(username: [UInt8], password: [UInt8])> {
        let start = buffer.readerIndex
        guard let version = buffer.getInteger(at: start, as: UInt8.self),
            let userLength = buffer.getInteger(at: start + 1, as: UInt8.self)
        else { return .needMore }
        guard version == Self.authenticationVersion else { return .invalid("authentication version \(version), not 1") }
        guard let username = buffer.getBytes(at: start + 2, length: Int(userLength)),
            let passwordLength = buffer.getInteger(at: start + 2 + Int(userLength), as: UInt8.self),
            let password = buffer.getBytes(at: start + 3 + Int(userLength), length: Int(passwordLength))
        else { return .needMore }
        buffer.moveReaderIndex(forwardBy: 3 + Int(userLength) + Int(passwordLength))
        return .message((username, password))
    }

    /// VER CMD RSV ATYP DST.ADDR DST.PORT.
    static func request(_ buffer: inout ByteBuffer) -> Parsed<Request> {
        let start = buffer.readerIndex
        guard let version = buffer.getInteger(at: start, as: UInt8.self),
            let command = buffer.getInteger(at: start + 1, as: UInt8.self),
            let addressType = buffer.getInteger(at: start + 3, as: UInt8.self)
        else { return .needMore }
        guard version == Self.version else { return .invalid("SOCKS version \(version), not 5") }
        let destination: Destination
        let addressLength: Int
        switch addressType {
        case 1:
            guard let value = buffer.getInteger(at: start + 4, as: UInt32.self) else { return .needMore }
            destination = .ipv4(IPv4Address(value))
            addressLength = 4
        case 3:
            guard let length = buffer.getInteger(at: start + 4, as: UInt8.self) else { return .needMore }
            guard length > 0 else { return .invalid("an empty destination name") }
            guard let bytes = buffer.getBytes(at: start + 5, length: Int(length)) else { return .needMore }
            destination = .name(String(decoding: bytes, as: UTF8.self))
            addressLength = 1 + Int(length)
        case 4:
            guard buffer.readableBytes >= 4 + 16 else { return .needMore }
            destination = .ipv6
            addressLength = 16
        default:
            return .invalid("address type \(addressType)")
        }
        guard let port = buffer.getInteger(at: start + 4 + addressLength, as: UInt16.self) else { return .needMore }
        buffer.moveReaderIndex(forwardBy: 4 + addressLength + 2)
        return .message(Request(command: command, destination: destination, port: port))
    }

    /// VER METHOD.
    static func methodSelection(_ method: Method) -> ByteBuffer {
        ByteBuffer(bytes: [Self.version, method.rawValue])
    }

    /// VER STATUS (RFC 1929): 0 for success.
    static func authenticationStatus(succeeded: Bool) -> ByteBuffer {
        ByteBuffer(bytes: [Self.authenticationVersion, succeeded ? 0 : 1])
    }

    /// VER REP RSV ATYP BND.ADDR BND.PORT, with 0.0.0.0:0 as the bound address: the far end of
    /// a tunnel stream has no address of this host's to report.
    static func reply(_ code: Socks5ReplyCode) -> ByteBuffer {
        ByteBuffer(bytes: [Self.version, code.rawValue, 0, 1, 0, 0, 0, 0, 0, 0])
    }
}
