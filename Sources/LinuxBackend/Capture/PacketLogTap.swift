import CNftnl
import Glibc

/// Copies every IPv4 packet a node sends or receives to an nflog group, before any address
/// translation: what `edgemesh capture` records. A capture on an interface sees cluster-IP
/// traffic of the node's own processes only after the agent's redirect (on `lo`, to the
/// proxy's port); here the log rules sit at the raw priority of `output` and `prerouting`,
/// ahead of every NAT, so each packet keeps the destination its sender chose, and packets
/// from pods on bridges and from peers are seen the same way.
///
/// Packets the node sends to itself are logged once, on the way out (`lo` is skipped on the
/// way in). The kernel hands the group's packets over at least once a second: a capture that
/// stops should wait that long after the last packet it wants.
///
/// The rules live in a table of their own (`edgemesh_capture`, family `ip`), made and removed
/// whole in one batch each; libpcap reads the group as the device `nflog:<group>`.
public final class PacketLogTap {
    public static let tableName = "edgemesh_capture"
    /// NF_IP_PRI_RAW: before conntrack and every NAT chain.
    static let priority: Int32 = -300
    public let group: UInt16
    private let socket: NetlinkSocket

    /// Installs the table (replacing one a crashed capture left behind).
    public init(group: UInt16) throws(NftablesError) {
        self.group = group
        socket = try NetlinkSocket()
        var batch = NftablesBatch(firstSequence: socket.nextSequence, description: "the capture table \(Self.tableName)")
        batch.addTable(Self.tableName)
        batch.deleteTable(Self.tableName)
        batch.addTable(Self.tableName)
        batch.addFilterChain(table: Self.tableName, name: "output", hook: NF_INET_LOCAL_OUT.rawValue, priority: Self.priority)
        batch.addLogRule(group: group, table: Self.tableName, chain: "output")
        // What arrives on lo was sent here and logged on its way out, already translated.
        batch.addFilterChain(table: Self.tableName, name: "prerouting", hook: NF_INET_PRE_ROUTING.rawValue, priority: Self.priority)
        batch.addLogRule(group: group, skippingLoopback: true, table: Self.tableName, chain: "prerouting")
        batch.finish()
        socket.nextSequence = batch.nextSequence
        try socket.commit(batch)
    }

    /// Removes the table and its rules.
    public func remove() throws(NftablesError) {
        var batch = NftablesBatch(firstSequence: socket.nextSequence, description: "the removal of table \(Self.tableName)")
        batch.addTable(Self.tableName)
        batch.deleteTable(Self.tableName)
        batch.finish()
        socket.nextSequence = batch.nextSequence
        try socket.commit(batch)
    }

    /// The network-layer packet of one frame libpcap read from `nflog:<group>` (link type
    /// DLT_NFLOG): a 4-byte header (family, version, group), then type-length-value attributes
    /// in host byte order, each padded to 4 bytes; the packet is attribute NFULA_PAYLOAD (9).
    /// Nil for a frame without one, or one cut short.
    public static func packet(fromNFLOGFrame frame: [UInt8]) -> [UInt8]? {
        var offset = 4
        while offset + 4 <= frame.count {
            let (length, type) = frame.withUnsafeBytes { bytes in
                (Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)),
                 bytes.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self))
            }
            guard length >= 4, offset + length <= frame.count else { return nil }
            if type & 0x7FFF == payloadAttribute { return Array(frame[(offset + 4)..<(offset + length)]) }
            offset += (length + 3) & ~3
        }
        return nil
    }

    private static let payloadAttribute: UInt16 = 9
}
