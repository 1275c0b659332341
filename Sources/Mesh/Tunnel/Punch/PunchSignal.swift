/// The messages two nodes exchange through a relay to coordinate a punch (in the spirit of
/// libp2p's DCUtR): the initiator asks with its public endpoint and mapping, the responder
/// answers with its own, the initiator's `sync` starts both sides' connects at once.
enum PunchSignal: Hashable, Sendable {
    case request(token: RelayToken, mapping: NATMappingBehavior, endpoint: NodeEndpoint)
    case answer(token: RelayToken, mapping: NATMappingBehavior, endpoint: NodeEndpoint)
    case sync(token: RelayToken)
    case decline(token: RelayToken, reason: String)

    private static let magic: UInt8 = 0x50  // "P"
    private static let maxReasonLength = 512

    var token: RelayToken {
        switch self {
        case .request(let token, _, _), .answer(let token, _, _), .sync(let token), .decline(let token, _): token
        }
    }

    var encoded: [UInt8] {
        func endpointBytes(_ endpoint: NodeEndpoint) -> [UInt8] {
            let a = endpoint.address.value, p = endpoint.port
            return [UInt8(a >> 24), UInt8(truncatingIfNeeded: a >> 16), UInt8(truncatingIfNeeded: a >> 8),
                    UInt8(truncatingIfNeeded: a), UInt8(p >> 8), UInt8(truncatingIfNeeded: p)]
        }
        switch self {
        case .request(let token, let mapping, let endpoint):
            return [Self.magic, 1] + token.bytes + [mapping.wireValue] + endpointBytes(endpoint)
        case .answer(let token, let mapping, let endpoint):
            return [Self.magic, 2] + token.bytes + [mapping.wireValue] + endpointBytes(endpoint)
        case .sync(let token):
            return [Self.magic, 3] + token.bytes
        case .decline(let token, let reason):
            return [Self.magic, 4] + token.bytes + Array(reason.utf8.prefix(Self.maxReasonLength))
        }
    }

    /// `nil` for anything that is not a well-formed punch signal (it is then ignored).
    init?(decoding bytes: [UInt8]) {
        guard bytes.count >= 2 + RelayToken.length, bytes[0] == Self.magic,
            let token = RelayToken(bytes: Array(bytes[2..<(2 + RelayToken.length)]))
        else { return nil }
        let rest = Array(bytes[(2 + RelayToken.length)...])
        func endpoint() -> (NATMappingBehavior, NodeEndpoint)? {
            guard rest.count == 7 else { return nil }
            let address = rest[1...4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let port = UInt16(rest[5]) << 8 | UInt16(rest[6])
            return (NATMappingBehavior(wireValue: rest[0]), NodeEndpoint(address: IPv4Address(address), port: port))
        }
        switch bytes[1] {
        case 1:
            guard let fields = endpoint() else { return nil }
            self = .request(token: token, mapping: fields.0, endpoint: fields.1)
        case 2:
            guard let fields = endpoint() else { return nil }
            self = .answer(token: token, mapping: fields.0, endpoint: fields.1)
        case 3:
            guard rest.isEmpty else { return nil }
            self = .sync(token: token)
        case 4:
            guard rest.count <= Self.maxReasonLength, let reason = String(validating: rest, as: UTF8.self) else { return nil }
            self = .decline(token: token, reason: reason)
        default:
            return nil
        }
    }
}
