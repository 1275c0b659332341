import CNftnl
import Glibc

/// Table names collected by the dump callback.
private final class TableNameSink {
    var names: [String] = []
    var unparsable = 0
}

extension NetlinkSocket {
    /// Names of the nf_tables tables of `family` (NFT_MSG_GETTABLE dump), in kernel order.
    func listTables(family: UInt32) throws(NftablesError) -> [String] {
        discardPendingReplies()
        let sequence = nextSequence
        nextSequence &+= 1
        var request = [UInt8](repeating: 0, count: 256)
        let length = request.withUnsafeMutableBytes { raw -> Int in
            let header = nftnl_nlmsg_build_hdr(
                raw.baseAddress!.assumingMemoryBound(to: CChar.self), UInt16(NFT_MSG_GETTABLE.rawValue),
                UInt16(family), UInt16(NLM_F_DUMP), sequence)!
            return Int(header.pointee.nlmsg_len)
        }
        let operation = "the listing of tables"
        try send(Array(request[..<length]), operation: operation)

        let sink = TableNameSink()
        let onTable: mnl_cb_t = { header, data in
            guard let header, let data else { return MNL_CB_ERROR }
            let sink = Unmanaged<TableNameSink>.fromOpaque(data).takeUnretainedValue()
            guard let table = nftnl_table_alloc() else { return MNL_CB_ERROR }
            defer { nftnl_table_free(table) }
            if nftnl_table_nlmsg_parse(header, table) < 0 {
                sink.unparsable += 1
            } else if let name = nftnl_table_get_str(table, UInt16(NFTNL_TABLE_NAME.rawValue)) {
                sink.names.append(String(cString: name))
            }
            return MNL_CB_OK
        }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            guard let received = try receive(into: &buffer, timeoutMilliseconds: Self.answerTimeoutMilliseconds,
                                             operation: operation)
            else { throw .noAnswer(operation: operation) }
            let result = withExtendedLifetime(sink) {
                buffer.withUnsafeBytes { bytes in
                    mnl_cb_run(bytes.baseAddress, received, sequence, portID, onTable,
                               Unmanaged.passUnretained(sink).toOpaque())
                }
            }
            if result == MNL_CB_ERROR {
                // libmnl turned an NLMSG_ERROR into errno (EPERM without CAP_NET_ADMIN).
                throw .refused(object: operation, errno: errno)
            }
            if result == MNL_CB_STOP { break }  // NLMSG_DONE: the dump is complete
        }
        if sink.unparsable > 0 {
            throw .malformedReply("\(sink.unparsable) table(s) in \(operation) could not be parsed")
        }
        return sink.names
    }
}
