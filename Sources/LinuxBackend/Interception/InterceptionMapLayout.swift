import CNftnl
import Glibc
import Mesh

/// The nf_tables map that holds every intercepted service address, as `nft` would declare it:
///
///     map intercepted { type ipv4_addr . inet_proto . inet_service : inet_service; }
///
/// Key: the packet's destination address, transport protocol and destination port; value: the
/// port of the agent's listener to redirect to. The kernel looks a packet up with one hash probe,
/// so a new connection costs the same whether the node knows 3 services or 3,000.
///
/// In a concatenated key every field takes whole 32-bit registers (`nft` pads the same way):
/// address in 4 bytes, protocol in 1 byte + 3 zero bytes, port in 2 bytes + 2 zero bytes. The
/// rule loads the three fields into consecutive registers starting at `keyRegister`. Values are
/// in network byte order, as on the wire.
enum InterceptionMapLayout {
    static let name = "intercepted"
    /// The map's number inside one batch: a rule added in the same batch may refer to it by
    /// this instead of by name (the kernel accepts either; `nft` sends both).
    static let batchID: UInt32 = 1

    /// `nft`'s datatype numbers (ipv4_addr 7, inet_proto 12, inet_service 13); a concatenation is
    /// the subtypes shifted in 6 bits at a time. The kernel ignores them; `nft list` uses them to
    /// print the map with its field types.
    static let keyType: UInt32 = ((7 << 6 | 12) << 6) | 13
    static let dataType: UInt32 = 13
    static let keyLength = 12
    static let dataLength = 2

    /// 128-bit register 1, i.e. 32-bit registers 8, 9 and 10 for the three key fields.
    static let keyRegister = UInt32(NFT_REG_1.rawValue)
    static let protocolRegister = UInt32(NFT_REG32_01.rawValue)
    static let portRegister = UInt32(NFT_REG32_02.rawValue)

    static func key(of rule: InterceptionRule) -> [UInt8] {
        bigEndianBytes(rule.serviceAddress.value, count: 4)
            + [protocolNumber(rule.transport), 0, 0, 0]
            + bigEndianBytes(UInt32(rule.servicePort), count: 2) + [0, 0]
    }

    static func data(of rule: InterceptionRule) -> [UInt8] {
        bigEndianBytes(UInt32(rule.localPort), count: dataLength)
    }

    /// At most one redirect per key (the kernel refuses a second element with the same key and
    /// another value, which would fail the whole batch): the first rule given for a key wins.
    static func distinctByKey(_ rules: [InterceptionRule]) -> [InterceptionRule] {
        var seen = Set<[UInt8]>()
        return rules.filter { seen.insert(key(of: $0)).inserted }
    }

    static func protocolNumber(_ transport: TransportProtocol) -> UInt8 {
        switch transport {
        case .tcp: UInt8(IPPROTO_TCP)
        case .udp: UInt8(IPPROTO_UDP)
        }
    }

    /// The low `count` bytes of `value`, most significant first (network order).
    static func bigEndianBytes(_ value: UInt32, count: Int) -> [UInt8] {
        (0..<count).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) }
    }
}
