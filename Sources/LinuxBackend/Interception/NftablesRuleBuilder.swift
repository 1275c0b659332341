import CNftnl
import Glibc
import Mesh

/// Builds the redirect rule for one transport, the same expressions `nft` generates for
/// `meta l4proto tcp redirect to :ip daddr . meta l4proto . tcp dport map @intercepted`:
///
///     [ meta load l4proto => reg 1 ]
///     [ cmp eq reg 1 6 ]                                    tcp (17: udp)
///     [ payload load 4b @ network header + 16 => reg 1 ]    ip daddr  ┐
///     [ meta load l4proto => reg 9 ]                        protocol  ├ the map's key
///     [ payload load 2b @ transport header + 2 => reg 10 ]  dport     ┘
///     [ lookup reg 1 set intercepted dreg 1 ]               no element: the rule ends here
///     [ redir proto_min reg 1 ]
///
/// The protocol match is what `nft` needs to print the rule back as one it can parse again
/// (`nft list ruleset > file; nft -f file` works); the kernel would not need it, since the key
/// holds the protocol.
enum NftablesRuleBuilder {
    /// Offset of the destination address in the IPv4 header.
    private static let ipv4DestinationOffset: UInt32 = 16
    /// Offset of the destination port in both the TCP and the UDP header.
    private static let destinationPortOffset: UInt32 = 2
    private static let register = UInt32(NFT_REG_1.rawValue)

    /// Calls `body` with a freshly built `struct nftnl_rule *` redirecting `transport` packets
    /// found in the interception map; freed afterwards.
    static func withRedirectRule<Result>(
        for transport: TransportProtocol, table: String, chain: String, family: UInt32,
        _ body: (OpaquePointer) -> Result
    ) -> Result {
        withRule(table: table, chain: chain, family: family) { nftRule in
            addMetaLoad(nftRule, key: NFT_META_L4PROTO, into: register)
            addCompareEqual(nftRule, [InterceptionMapLayout.protocolNumber(transport)])
            addPayloadLoad(nftRule, base: NFT_PAYLOAD_NETWORK_HEADER, offset: ipv4DestinationOffset, length: 4,
                           into: InterceptionMapLayout.keyRegister)
            addMetaLoad(nftRule, key: NFT_META_L4PROTO, into: InterceptionMapLayout.protocolRegister)
            addPayloadLoad(nftRule, base: NFT_PAYLOAD_TRANSPORT_HEADER, offset: destinationPortOffset, length: 2,
                           into: InterceptionMapLayout.portRegister)
            addMapLookup(nftRule)
            addRedirect(nftRule)
            return body(nftRule)
        }
    }

    /// Calls `body` with the rule `nft` builds for `log group <group>` (with `skippingLoopback`,
    /// `meta iif != lo log group <group>`: `[ meta load iif => reg 1 ] [ cmp neq reg 1 1 ]`,
    /// the loopback device being index 1 in every namespace); freed afterwards.
    static func withLogRule<Result>(
        group: UInt16, skippingLoopback: Bool, table: String, chain: String, family: UInt32, _ body: (OpaquePointer) -> Result
    ) -> Result {
        withRule(table: table, chain: chain, family: family) { nftRule in
            if skippingLoopback {
                addMetaLoad(nftRule, key: NFT_META_IIF, into: register)
                let compare = makeExpression("cmp")
                nftnl_expr_set_u32(compare, UInt16(NFTNL_EXPR_CMP_SREG), register)
                nftnl_expr_set_u32(compare, UInt16(NFTNL_EXPR_CMP_OP), NFT_CMP_NEQ.rawValue)
                var loopbackIndex: UInt32 = 1
                _ = nftnl_expr_set(compare, UInt16(NFTNL_EXPR_CMP_DATA), &loopbackIndex, 4)
                nftnl_rule_add_expr(nftRule, compare)
            }
            let expression = makeExpression("log")
            nftnl_expr_set_u16(expression, UInt16(NFTNL_EXPR_LOG_GROUP), group)
            nftnl_rule_add_expr(nftRule, expression)
            return body(nftRule)
        }
    }

    /// A fresh `struct nftnl_rule *` for `chain` of `table`, freed once `build` returns.
    private static func withRule<Result>(
        table: String, chain: String, family: UInt32, _ build: (OpaquePointer) -> Result
    ) -> Result {
        guard let nftRule = nftnl_rule_alloc() else { fatalError("nftnl_rule_alloc: out of memory") }
        defer { nftnl_rule_free(nftRule) }
        nftnl_rule_set_u32(nftRule, UInt16(NFTNL_RULE_FAMILY.rawValue), family)
        nftnl_rule_set_str(nftRule, UInt16(NFTNL_RULE_TABLE.rawValue), table)
        nftnl_rule_set_str(nftRule, UInt16(NFTNL_RULE_CHAIN.rawValue), chain)
        return build(nftRule)
    }

    private static func makeExpression(_ name: String) -> OpaquePointer {
        guard let expression = nftnl_expr_alloc(name) else {
            fatalError("nftnl_expr_alloc(\(name)): out of memory")
        }
        return expression
    }

    private static func addPayloadLoad(
        _ rule: OpaquePointer, base: nft_payload_bases, offset: UInt32, length: UInt32, into destination: UInt32
    ) {
        let expression = makeExpression("payload")
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_PAYLOAD_DREG), destination)
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_PAYLOAD_BASE), base.rawValue)
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_PAYLOAD_OFFSET), offset)
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_PAYLOAD_LEN), length)
        nftnl_rule_add_expr(rule, expression)  // the rule owns the expression from here on
    }

    private static func addMetaLoad(_ rule: OpaquePointer, key: nft_meta_keys, into destination: UInt32) {
        let expression = makeExpression("meta")
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_META_KEY), key.rawValue)
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_META_DREG), destination)
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

    /// Looks the key up in the interception map and puts the listener port in register 1.
    private static func addMapLookup(_ rule: OpaquePointer) {
        let expression = makeExpression("lookup")
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_LOOKUP_SREG), InterceptionMapLayout.keyRegister)
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_LOOKUP_DREG), register)
        nftnl_expr_set_str(expression, UInt16(NFTNL_EXPR_LOOKUP_SET), InterceptionMapLayout.name)
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_LOOKUP_SET_ID), InterceptionMapLayout.batchID)
        nftnl_rule_add_expr(rule, expression)
    }

    private static func addRedirect(_ rule: OpaquePointer) {
        let expression = makeExpression("redir")
        // proto_min alone: the kernel uses it as proto_max too, i.e. exactly this port.
        nftnl_expr_set_u32(expression, UInt16(NFTNL_EXPR_REDIR_REG_PROTO_MIN), register)
        nftnl_rule_add_expr(rule, expression)
    }
}
