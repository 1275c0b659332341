import NIOCore

/// The `struct virtio_net_hdr` a TUN device opened with `IFF_VNET_HDR` puts before every packet
/// (10 bytes, the host's byte order, little-endian here): whether the packet still needs its
/// transport checksum, and whether it is a TCP segment larger than the wire allows that the
/// reader must cut into `segmentSize`-byte segments (generic segmentation offload).
struct VirtioNetHeader: Equatable {
    static let length = 10

    /// `flags`: the transport checksum is a partial sum of the pseudo-header, to be completed
    /// over the bytes from `checksumStart` and stored `checksumOffset` bytes after it.
    static let needsChecksum: UInt8 = 0x01

    /// `gso_type` values (`VIRTIO_NET_HDR_GSO_*`); `explicitCongestion` may be or'ed into a TCP type.
    enum SegmentationType {
        static let none: UInt8 = 0
        static let tcpIPv4: UInt8 = 1
        static let explicitCongestion: UInt8 = 0x80
    }

    var flags: UInt8 = 0
    var segmentationType: UInt8 = SegmentationType.none
    /// Bytes of IP and TCP headers before the payload of a segmented packet (a hint; the reader measures).
    var headerLength: UInt16 = 0
    /// The payload bytes of each segment a large TCP packet is cut into.
    var segmentSize: UInt16 = 0
    var checksumStart: UInt16 = 0
    var checksumOffset: UInt16 = 0

    init() {}

    /// Takes the header off the front of `buffer`; nil when fewer than ten bytes arrived.
    init?(reading buffer: inout ByteBuffer) {
        guard buffer.readableBytes >= Self.length else { return nil }
        flags = buffer.readInteger()!
        segmentationType = buffer.readInteger()!
        headerLength = buffer.readInteger(endianness: .little)!
        segmentSize = buffer.readInteger(endianness: .little)!
        checksumStart = buffer.readInteger(endianness: .little)!
        checksumOffset = buffer.readInteger(endianness: .little)!
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(flags)
        buffer.writeInteger(segmentationType)
        buffer.writeInteger(headerLength, endianness: .little)
        buffer.writeInteger(segmentSize, endianness: .little)
        buffer.writeInteger(checksumStart, endianness: .little)
        buffer.writeInteger(checksumOffset, endianness: .little)
    }
}
