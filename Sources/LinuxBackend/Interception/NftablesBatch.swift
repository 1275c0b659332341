import CNftnl
import Glibc
import Mesh

/// One nfnetlink batch: BEGIN, nf_tables messages, END in one buffer. The kernel applies a batch
/// as a single transaction: either every message takes effect or none does.
///
/// Every message between BEGIN and END asks for an acknowledgement; `objects` maps its sequence
/// number to the object it creates or deletes, so an error names what failed.
struct NftablesBatch {
    /// nf_tables names are at most NFT_NAME_MAXLEN (256) bytes including the NUL, so no message
    /// built here comes near this size: a rule is well under 1 KiB, and map elements go
    /// `elementsPerMessage` to a message (about 40 bytes each).
    private static let messageRoom = 8192
    static let elementsPerMessage = 128

    private(set) var bytes: [UInt8] = []
    private var scratch = [UInt8](repeating: 0, count: messageRoom)
    /// Sequence number → what the message is about, for every message that asked for an ACK.
    private(set) var objects: [UInt32: String] = [:]
    /// Sequence number of BEGIN: a batch refused as a whole (no CAP_NET_ADMIN) is answered with
    /// one error carrying this number.
    let beginSequence: UInt32
    private(set) var nextSequence: UInt32
    let family: UInt32
    let description: String

    init(firstSequence: UInt32, family: UInt32 = UInt32(NFPROTO_IPV4), description: String) {
        self.beginSequence = firstSequence
        self.nextSequence = firstSequence
        self.family = family
        self.description = description
        append { buffer, sequence in nftnl_batch_begin(buffer, sequence) }
    }

    /// Closes the batch; nothing may be added afterwards.
    mutating func finish() {
        append { buffer, sequence in nftnl_batch_end(buffer, sequence) }
    }

    /// Adds the table; a no-op inside the kernel if it exists already.
    mutating func addTable(_ name: String) {
        withTable(name) { table in
            appendObject("table \(name)", type: NFT_MSG_NEWTABLE, flags: NLM_F_CREATE) { header in
                nftnl_table_nlmsg_build_payload(header, table)
            }
        }
    }

    /// Deletes the table with everything in it (chains, rules).
    mutating func deleteTable(_ name: String) {
        withTable(name) { table in
            appendObject("table \(name)", type: NFT_MSG_DELTABLE, flags: 0) { header in
                nftnl_table_nlmsg_build_payload(header, table)
            }
        }
    }

    /// Adds a base chain of type nat at `hook` with `priority`.
    mutating func addNATChain(table: String, name: String, hook: UInt32, priority: Int32) {
        addBaseChain(type: "nat", table: table, name: name, hook: hook, priority: priority)
    }

    /// Adds a base chain of type filter at `hook` with `priority` (policy accept).
    mutating func addFilterChain(table: String, name: String, hook: UInt32, priority: Int32) {
        addBaseChain(type: "filter", table: table, name: name, hook: hook, priority: priority)
    }

    private mutating func addBaseChain(type: String, table: String, name: String, hook: UInt32, priority: Int32) {
        guard let chain = nftnl_chain_alloc() else { fatalError("nftnl_chain_alloc: out of memory") }
        defer { nftnl_chain_free(chain) }
        nftnl_chain_set_u32(chain, UInt16(NFTNL_CHAIN_FAMILY.rawValue), family)
        nftnl_chain_set_str(chain, UInt16(NFTNL_CHAIN_TABLE.rawValue), table)
        nftnl_chain_set_str(chain, UInt16(NFTNL_CHAIN_NAME.rawValue), name)
        nftnl_chain_set_str(chain, UInt16(NFTNL_CHAIN_TYPE.rawValue), type)
        nftnl_chain_set_u32(chain, UInt16(NFTNL_CHAIN_HOOKNUM.rawValue), hook)
        nftnl_chain_set_s32(chain, UInt16(NFTNL_CHAIN_PRIO.rawValue), priority)
        appendObject("chain \(table)/\(name)", type: NFT_MSG_NEWCHAIN, flags: NLM_F_CREATE) { header in
            nftnl_chain_nlmsg_build_payload(header, chain)
        }
    }

    /// Appends `log group <group>` to `chain`: every packet reaching it (but those arriving on
    /// `lo`, with `skippingLoopback`) is copied to that nflog group whole, and goes on.
    mutating func addLogRule(group: UInt16, skippingLoopback: Bool = false, table: String, chain: String) {
        NftablesRuleBuilder.withLogRule(
            group: group, skippingLoopback: skippingLoopback, table: table, chain: chain, family: family
        ) { nftRule in
            appendObject("the log rule in chain \(table)/\(chain)", type: NFT_MSG_NEWRULE, flags: NLM_F_CREATE | NLM_F_APPEND) { header in
                nftnl_rule_nlmsg_build_payload(header, nftRule)
            }
        }
    }

    /// Adds the empty interception map (`InterceptionMapLayout`).
    mutating func addInterceptionMap(table: String) {
        withInterceptionMap(table: table) { map in
            nftnl_set_set_u32(map, UInt16(NFTNL_SET_FLAGS.rawValue), NFT_SET_MAP.rawValue)
            nftnl_set_set_u32(map, UInt16(NFTNL_SET_KEY_TYPE.rawValue), InterceptionMapLayout.keyType)
            nftnl_set_set_u32(map, UInt16(NFTNL_SET_KEY_LEN.rawValue), UInt32(InterceptionMapLayout.keyLength))
            nftnl_set_set_u32(map, UInt16(NFTNL_SET_DATA_TYPE.rawValue), InterceptionMapLayout.dataType)
            nftnl_set_set_u32(map, UInt16(NFTNL_SET_DATA_LEN.rawValue), UInt32(InterceptionMapLayout.dataLength))
            appendObject("map \(table)/\(InterceptionMapLayout.name)", type: NFT_MSG_NEWSET, flags: NLM_F_CREATE) { header in
                nftnl_set_nlmsg_build_payload(header, map)
            }
        }
    }

    /// Adds one map element per rule, `elementsPerMessage` to a message. Keys must be distinct.
    mutating func addInterceptionElements(_ rules: [InterceptionRule], table: String) {
        for start in stride(from: 0, to: rules.count, by: Self.elementsPerMessage) {
            let chunk = rules[start..<min(start + Self.elementsPerMessage, rules.count)]
            withInterceptionMap(table: table) { map in
                for rule in chunk {
                    guard let element = nftnl_set_elem_alloc() else { fatalError("nftnl_set_elem_alloc: out of memory") }
                    InterceptionMapLayout.key(of: rule).withUnsafeBytes { key in
                        _ = nftnl_set_elem_set(element, UInt16(NFTNL_SET_ELEM_KEY), key.baseAddress, UInt32(key.count))
                    }
                    InterceptionMapLayout.data(of: rule).withUnsafeBytes { data in
                        _ = nftnl_set_elem_set(element, UInt16(NFTNL_SET_ELEM_DATA), data.baseAddress, UInt32(data.count))
                    }
                    nftnl_set_elem_add(map, element)  // the map owns the element from here on
                }
                let object = chunk.count == 1 ? "element \"\(chunk.first!)\"" : "elements \"\(chunk.first!)\" to \"\(chunk.last!)\""
                appendObject("\(object) of map \(table)/\(InterceptionMapLayout.name)",
                             type: NFT_MSG_NEWSETELEM, flags: NLM_F_CREATE) { header in
                    nftnl_set_elems_nlmsg_build_payload(header, map)
                }
            }
        }
    }

    /// Appends the rule that redirects `transport` packets found in the interception map to the
    /// end of `chain`.
    mutating func addRedirectRule(for transport: TransportProtocol, table: String, chain: String) {
        NftablesRuleBuilder.withRedirectRule(for: transport, table: table, chain: chain, family: family) { nftRule in
            appendObject("the \(transport) redirect rule in chain \(table)/\(chain)", type: NFT_MSG_NEWRULE,
                         flags: NLM_F_CREATE | NLM_F_APPEND) { header in
                nftnl_rule_nlmsg_build_payload(header, nftRule)
            }
        }
    }

    private func withInterceptionMap(table: String, _ body: (OpaquePointer) -> Void) {
        guard let map = nftnl_set_alloc() else { fatalError("nftnl_set_alloc: out of memory") }
        defer { nftnl_set_free(map) }
        nftnl_set_set_u32(map, UInt16(NFTNL_SET_FAMILY.rawValue), family)
        nftnl_set_set_str(map, UInt16(NFTNL_SET_TABLE.rawValue), table)
        nftnl_set_set_str(map, UInt16(NFTNL_SET_NAME.rawValue), InterceptionMapLayout.name)
        nftnl_set_set_u32(map, UInt16(NFTNL_SET_ID.rawValue), InterceptionMapLayout.batchID)
        body(map)
    }

    private func withTable(_ name: String, _ body: (OpaquePointer) -> Void) {
        guard let table = nftnl_table_alloc() else { fatalError("nftnl_table_alloc: out of memory") }
        defer { nftnl_table_free(table) }
        nftnl_table_set_u32(table, UInt16(NFTNL_TABLE_FAMILY.rawValue), family)
        nftnl_table_set_str(table, UInt16(NFTNL_TABLE_NAME.rawValue), name)
        body(table)
    }

    private mutating func appendObject(
        _ object: String, type: nf_tables_msg_types, flags: Int32,
        payload: (UnsafeMutablePointer<nlmsghdr>) -> Void
    ) {
        let family = UInt16(self.family)
        let sequence = append { buffer, sequence in
            let header = nftnl_nlmsg_build_hdr(
                buffer, UInt16(type.rawValue), family, UInt16(flags | NLM_F_ACK), sequence)!
            payload(header)
            return header
        }
        objects[sequence] = object
    }

    /// Builds one message with the next sequence number, appends it to `bytes` and returns that number.
    @discardableResult
    private mutating func append(
        _ build: (UnsafeMutablePointer<CChar>, UInt32) -> UnsafeMutablePointer<nlmsghdr>?
    ) -> UInt32 {
        let sequence = nextSequence
        nextSequence &+= 1
        // libnftnl writes without bounds checks, so each message is built in a scratch buffer of
        // ample size (it zeroes headers and padding itself), then copied out at its real length.
        scratch.withUnsafeMutableBytes { raw in
            let buffer = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
            guard let header = build(buffer, sequence) else { fatalError("libnftnl built no message header") }
            let length = Int(header.pointee.nlmsg_len)
            precondition(length > 0 && length <= Self.messageRoom, "netlink message of \(length) bytes")
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: raw.baseAddress, count: length))
        }
        return sequence
    }
}
