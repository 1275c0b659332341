import CNftnl
import Glibc
import Mesh

/// Builds the nf_tables rule for one `InterceptionRule`, the same expressions `nft` generates for
/// `ip daddr A <tcp|udp> dport P redirect to :L`:
///
///     [ payload load 4b @ network header + 16 => reg 1 ]    ip daddr
///     [ cmp eq reg 1 A ]
///     [ meta load l4proto => reg 1 ]                        tcp/udp (dependency of dport)
///     [ cmp eq reg 1 6|17 ]
///     [ payload load 2b @ transport header + 2 => reg 1 ]   dport
///     [ cmp eq reg 1 P ]
///     [ immediate reg 1 L ]
///     [ redir proto_min reg 1 ]
///
/// Values in registers are in network byte order, as on the wire.
enum NftablesRuleBuilder {
    /// Offset of the destination address in the IPv4 header.
    private static let ipv4DestinationOffset: UInt32 = 16
    /// Offset of the destination port in both the TCP and the UDP header.
    private static let destinationPortOffset: UInt32 = 2

    /// Calls `body` with a freshly built `struct nftnl_rule *`, freed afterwards.
    static func withRule<Result>(
        _ rule: InterceptionRule, table: String, chain: String, family: UInt32,
        _ body: (OpaquePointer) -> Result
    ) -> Result {
        guard let nftRule = nftnl_rule_alloc() else { fatalError("nftnl_rule_alloc: out of memory") }
        defer { nftnl_rule_free(nftRule) }
        nftnl_rule_set_u32(nftRule, UInt16(NFTNL_RULE_FAMILY.rawValue), family)
        nftnl_rule_set_str(nftRule, UInt16(NFTNL_RULE_TABLE.rawValue), table)
        nftnl_rule_set_str(nftRule, UInt16(NFTNL_RULE_CHAIN.rawValue), chain)

        addPayloadLoad(nftRule, base: NFT_PAYLOAD_NETWORK_HEADER, offset: ipv4DestinationOffset, length: 4)
        addCompareEqual(nftRule, bigEndianBytes(rule.serviceAddress.value, count: 4))
        addMetaLoad(nftRule, key: NFT_META_L4PROTO)
        addCompareEqual(nftRule, [protocolNumber(rule.transport)])
        addPayloadLoad(nftRule, base: NFT_PAYLOAD_TRANSPORT_HEADER, offset: destinationPortOffset, length: 2)
        addCompareEqual(nftRule, bigEndianBytes(UInt32(rule.servicePort), count: 2))
        addImmediate(nftRule, bigEndianBytes(UInt32(rule.localPort), count: 2))
        addRedirect(nftRule)
        return body(nftRule)
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

    // All expressions use register 1: each comparison consumes what the load before it put there.
    private static let register = UInt32(NFT_REG_1.rawValue)

    private static func makeExpression(_ name: String) -> OpaquePointer {
        guard let expression = nftnl_expr_alloc(name) else {
            fatalError("nftnl_expr_alloc(\(name)): out of memory")
        }
        return expression
    }

    private static func addPayloadLoad(_ rule: OpaquePointer, base: nft_payload_bases, offset: UInt32, length: UInt32) {
        let expression = makeExpression("payload")
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_PAYLOAD_DREG), register)
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_PAYLOAD_BASE), base.rawValue)
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_PAYLOAD_OFFSET), offset)
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_PAYLOAD_LEN), length)
        nftnl_rule_add_expr(rule, expression)  // the rule owns the expression from here on
    }

    private static func addMetaLoad(_ rule: OpaquePointer, key: nft_meta_keys) {
        let expression = makeExpression("meta")
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_META_KEY), key.rawValue)
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_META_DREG), register)
        nftnl_rule_add_expr(rule, expression)
    }

    private static func addCompareEqual(_ rule: OpaquePointer, _ data: [UInt8]) {
        let expression = makeExpression("cmp")
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_CMP_SREG), register)
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_CMP_OP), NFT_CMP_EQ.rawValue)
        data.withUnsafeBytes { bytes in
            _ = nftnl_expr_set(expression, UInt16(NFTNL_EXPR_CMP_DATA), bytes.baseAddress, UInt32(bytes.count))
        }
        nftnl_rule_add_expr(rule, expression)
    }

    private static func addImmediate(_ rule: OpaquePointer, _ data: [UInt8]) {
        let expression = makeExpression("immediate")
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_IMM_DREG), register)
        data.withUnsafeBytes { bytes in
            _ = nftnl_expr_set(expression, UInt16(NFTNL_EXPR_IMM_DATA), bytes.baseAddress, UInt32(bytes.count))
        }
        nftnl_rule_add_expr(rule, expression)
    }

    private static func addRedirect(_ rule: OpaquePointer) {
        let expression = makeExpression("redir")
        // proto_min alone: the kernel uses it as proto_max too, i.e. exactly this port.
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_REDIR_REG_PROTO_MIN), register)
        nftnl_rule_add_expr(rule, expression)
    }
}
