/// The first bytes on a punched connection: both ends prove it belongs to the punch they
/// coordinated (the token went only through the encrypted relay control connections), so a
/// stray connection to the punch port is never mistaken for the peer. After the hellos the
/// initiator writes `select` on the one connection it keeps and the responder answers `ack`.
enum PunchHello {
    static let magic = Array("EMPH".utf8)
    static let length = magic.count + RelayToken.length + 1
    static let select: UInt8 = 0x53
    static let ack: UInt8 = 0x41

    enum Role: UInt8 {
        case initiator = 1
        case responder = 2

        var peer: Role { self == .initiator ? .responder : .initiator }
    }

    static func encode(token: RelayToken, role: Role) -> [UInt8] {
        magic + token.bytes + [role.rawValue]
    }

    /// The token and role in a hello; `nil` when the bytes are not one.
    static func decode(_ bytes: [UInt8]) -> (token: RelayToken, role: Role)? {
        guard bytes.count == length, Array(bytes.prefix(magic.count)) == magic,
            let token = RelayToken(bytes: Array(bytes[magic.count..<(magic.count + RelayToken.length)])),
            let role = Role(rawValue: bytes[length - 1])
        else { return nil }
        return (token, role)
    }
}
