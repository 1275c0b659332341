import Mesh
import NIOCore

/// The TCP control bits the simulator models.
public struct TCPFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    // Bit values are the TCP header's own, so a capture writes them unchanged.
    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let psh = TCPFlags(rawValue: 0x08)
    public static let ack = TCPFlags(rawValue: 0x10)

    public var description: String {
        var names: [String] = []
        if contains(.syn) { names.append("SYN") }
        if contains(.fin) { names.append("FIN") }
        if contains(.rst) { names.append("RST") }
        if contains(.psh) { names.append("PSH") }
        if contains(.ack) { names.append("ACK") }
        return names.isEmpty ? "-" : names.joined(separator: "|")
    }
}

/// The TCP header fields of a simulated segment.
public struct TCPHeader: Hashable, Sendable {
    public var flags: TCPFlags
    public var sequence: UInt32
    public var acknowledgment: UInt32
    public var window: UInt32

    public init(flags: TCPFlags, sequence: UInt32, acknowledgment: UInt32, window: UInt32) {
        self.flags = flags
        self.sequence = sequence
        self.acknowledgment = acknowledgment
        self.window = window
    }

    /// The reset a stack answers `segment` with when no socket wants it (RFC 9293 section
    /// 3.10.7.1): acknowledging what it carried unless it acknowledged something itself.
    static func reset(answering segment: TCPHeader, payloadLength: Int) -> TCPHeader {
        let carried = UInt32(truncatingIfNeeded: payloadLength) &+ (segment.flags.contains(.syn) ? 1 : 0)
        let acknowledged = segment.flags.contains(.ack)
        return TCPHeader(
            flags: acknowledged ? [.rst] : [.rst, .ack], sequence: acknowledged ? segment.acknowledgment : 0,
            acknowledgment: segment.sequence &+ carried, window: 0)
    }
}

/// One IPv4 packet in flight through the simulated network.
///
/// It carries what a real packet carries (addresses, ports, TCP header, payload bytes), so
/// NATs rewrite it as real NATs do and captures write it as real frames, plus bookkeeping that
/// never goes on the wire (`id`, `origin`).
public struct Packet: Sendable {
    public var id: UInt64
    public var transport: TransportProtocol
    public var source: Endpoint
    public var destination: Endpoint
    /// Present exactly when `transport == .tcp`.
    public var tcp: TCPHeader?
    public var payload: ByteBuffer
    public var ttl: UInt8
    /// The node that first sent the packet, for partitions and the trace.
    public var origin: NodeID

    public init(
        id: UInt64, transport: TransportProtocol, source: Endpoint, destination: Endpoint,
        tcp: TCPHeader? = nil, payload: ByteBuffer, ttl: UInt8 = 64, origin: NodeID
    ) {
        self.id = id
        self.transport = transport
        self.source = source
        self.destination = destination
        self.tcp = tcp
        self.payload = payload
        self.ttl = ttl
        self.origin = origin
    }

    /// Bytes on the wire: IPv4 (20) + UDP (8) or TCP (20) headers + payload.
    public var wireLength: Int {
        20 + (transport == .udp ? 8 : 20) + payload.readableBytes
    }
}

/// A node's index in the simulator (hosts and routers alike).
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var index: Int32
    public init(_ index: Int32) { self.index = index }
    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.index < rhs.index }
    public var description: String { "#\(index)" }
}
