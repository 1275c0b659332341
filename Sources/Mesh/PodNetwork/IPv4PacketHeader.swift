import NIOCore

/// The fields of an IPv4 packet's header the pod network routes and checks by, read without
/// copying the packet.
///
/// A packet from a peer or a device is untrusted: `init?(validating:)` accepts only a
/// version-4 header of at least 20 bytes whose options and total length fit in what arrived
/// and whose checksum holds, so nothing downstream reads past a malformed one.
public struct IPv4PacketHeader: Hashable, Sendable {
    public static let minimumLength = 20

    /// Protocol numbers (IANA) the pod network names.
    public enum TransportNumber {
        public static let icmp: UInt8 = 1
        public static let tcp: UInt8 = 6
        public static let udp: UInt8 = 17
    }

    public var source: IPv4Address
    public var destination: IPv4Address
    /// The IANA protocol number of the payload (6 TCP, 17 UDP, 1 ICMP).
    public var transport: UInt8
    public var timeToLive: UInt8
    /// The header's own length in bytes (20 plus options).
    public var headerLength: Int
    /// The packet's length as its header states it; bytes after it (link padding) are not part of it.
    public var totalLength: Int
    /// Don't Fragment: the sender wants "fragmentation needed" rather than fragments.
    public var dontFragment: Bool

    /// Reads the header at `packet`'s reader index; `nil` for anything but a whole, well-formed
    /// IPv4 packet.
    public init?(validating packet: ByteBuffer) {
        guard packet.readableBytes >= Self.minimumLength,
            let first: UInt8 = packet.getInteger(at: packet.readerIndex), first >> 4 == 4
        else { return nil }
        let headerLength = Int(first & 0x0F) * 4
        let base = packet.readerIndex
        guard headerLength >= Self.minimumLength, let total: UInt16 = packet.getInteger(at: base + 2),
            Int(total) >= headerLength, Int(total) <= packet.readableBytes,
            let flags: UInt16 = packet.getInteger(at: base + 6),
            let ttl: UInt8 = packet.getInteger(at: base + 8), let transport: UInt8 = packet.getInteger(at: base + 9),
            let source: UInt32 = packet.getInteger(at: base + 12), let destination: UInt32 = packet.getInteger(at: base + 16),
            Self.checksum(of: packet, from: base, count: headerLength) == 0
        else { return nil }
        self.source = IPv4Address(source)
        self.destination = IPv4Address(destination)
        self.transport = transport
        self.timeToLive = ttl
        self.headerLength = headerLength
        self.totalLength = Int(total)
        self.dontFragment = flags & 0x4000 != 0
    }

    /// The ones' complement of the ones' complement sum of `count` bytes at absolute `index`
    /// (RFC 1071): 0 over a header whose checksum is right; over a header whose checksum field
    /// is zero, the value to put there.
    public static func checksum(of buffer: ByteBuffer, from index: Int, count: Int) -> UInt16 {
        buffer.withUnsafeReadableBytes { raw in
            let start = index - buffer.readerIndex
            var sum: UInt32 = 0
            var offset = start
            while offset + 1 < start + count {
                sum &+= UInt32(raw[offset]) << 8 | UInt32(raw[offset + 1])
                offset += 2
            }
            if offset < start + count { sum &+= UInt32(raw[offset]) << 8 }
            while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
            return ~UInt16(sum)
        }
    }
}
