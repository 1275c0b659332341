import NIOCore

/// Encoded answers from the cluster zone, by the query's bytes, so a repeated question skips
/// decoding, resolving and encoding and costs one hash lookup and one copy.
///
/// An answer is a pure function of the query's bytes after its ID, the transport (which sets
/// the size limit), and the table at one revision (the SOA serial is the revision), so a stored
/// answer with the new query's ID patched in is byte for byte what a fresh one would be: RD,
/// CD, the OPT echo and the question's spelling all come from the bytes that were matched.
/// Answers that also depend on who asked are never offered (the server checks). The whole cache
/// is dropped when the table's revision moves, and when its byte budget would be exceeded, so
/// its memory stays bounded and its behaviour never depends on hash order.
///
/// Not for forwarded answers: their TTLs count down, `ForwardedAnswerCache` keeps those.
struct ClusterAnswerCache {
    /// One stored answer and what the server's counters need to know about it.
    struct Entry {
        /// The encoded response; its first two octets (the ID) are overwritten per query.
        var response: ByteBuffer
        var responseCode: DNSResponseCode
        var isTruncated: Bool
    }

    private struct Key: Hashable {
        /// The query from its flags on (without the ID).
        var bytes: ByteBuffer
        var overUDP: Bool
    }

    /// Octets of keys and responses kept at most (bookkeeping overhead not counted).
    let byteBudget: Int
    private var entries: [Key: Entry] = [:]
    private var storedBytes = 0
    /// The table revision the entries were computed at.
    private var revision: UInt64 = 0

    init(byteBudget: Int = 1 << 20) {
        self.byteBudget = byteBudget
    }

    var count: Int { entries.count }

    /// The stored answer to `query` (the message's bytes, ID first) at table `revision`.
    mutating func answer(to query: ByteBuffer, overUDP: Bool, revision: UInt64) -> Entry? {
        if revision != self.revision { removeAll(revision: revision) }
        guard let key = Self.key(query, overUDP: overUDP) else { return nil }
        return entries[key]
    }

    /// Keeps `entry` as the answer to `query` at table `revision`.
    mutating func store(_ entry: Entry, for query: ByteBuffer, overUDP: Bool, revision: UInt64) {
        if revision != self.revision { removeAll(revision: revision) }
        guard let borrowed = Self.key(query, overUDP: overUDP) else { return }
        let size = borrowed.bytes.readableBytes + entry.response.readableBytes
        guard size <= byteBudget else { return }
        if storedBytes + size > byteBudget { removeAll(revision: revision) }
        // The key must not keep the receive buffer it was read from alive: copy it out.
        let key = Key(bytes: ByteBuffer(bytes: borrowed.bytes.readableBytesView), overUDP: overUDP)
        var compact = entry
        compact.response = ByteBuffer(bytes: entry.response.readableBytesView)
        if entries.updateValue(compact, forKey: key) == nil { storedBytes += size }
    }

    private mutating func removeAll(revision: UInt64) {
        entries.removeAll(keepingCapacity: true)
        storedBytes = 0
        self.revision = revision
    }

    private static func key(_ query: ByteBuffer, overUDP: Bool) -> Key? {
        guard query.readableBytes > DNSHeader.wireLength,
              let bytes = query.getSlice(at: query.readerIndex + 2, length: query.readableBytes - 2)
        else { return nil }
        return Key(bytes: bytes, overUDP: overUDP)
    }
}
